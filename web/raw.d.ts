/** Vite's `?raw` imports: the file's text (the examples menu reads examples/ this way). */
declare module '*?raw' {
  const text: string;
  export default text;
}
