/** Which platform the fast start runs on: Node code is only imported under Node, and browser code only in browsers. */
export const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';
