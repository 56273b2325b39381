/**
 * Where fetched wheels are kept between engines: by sha256 (the lock file pins it, and a
 * hit is checked against it). Node: a disk cache (src/node/package-files.ts); elsewhere
 * this process's memory (Cache Storage in browsers is not done yet: docs/packages.md).
 */
export interface PackageCache {
  /** The wheel with this sha256, or undefined. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  put(sha256: string, bytes: Uint8Array): Promise<void>;
}

/** This process's memory: every package set fetched once per page. */
export class MemoryPackageCache implements PackageCache {
  private readonly files = new Map<string, Uint8Array>();

  get(sha256: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.files.get(sha256));
  }

  put(sha256: string, bytes: Uint8Array): Promise<void> {
    this.files.set(sha256, bytes);
    return Promise.resolve();
  }
}
