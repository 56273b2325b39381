/** "did you mean": the known word nearest to a typo, by edit distance. */

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The word of `known` nearest to `word` (ties: the first listed), always one: a hint costs nothing. */
export function closest(word: string, known: readonly string[]): string {
  let best = known[0]!;
  let bestDistance = Infinity;
  for (const k of known) {
    // A prefix (`snap` for `snapshot`) is as near as it gets.
    const d = k.startsWith(word.toLowerCase()) ? 0 : editDistance(word.toLowerCase(), k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}
