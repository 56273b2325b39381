// Types for system-packages.mjs (plain JavaScript, so that it runs before anything is installed).
export interface SystemPackage {
  name: string;
  why: string;
  detect: { binary?: string; binaryEnv?: string; soname?: RegExp; libraryEnv?: string };
  tests: string[];
  browserProject?: boolean;
}
export declare const SYSTEM_PACKAGES: SystemPackage[];
export declare function isInstalled(pkg: SystemPackage): boolean;
export declare function missingPackages(): SystemPackage[];
export declare function forgetDetected(): void;
export declare function installCommand(names: string[]): string;
export declare function skippedTests(missing?: SystemPackage[]): { pattern: string; packages: string[] }[];
export declare function missingReport(missing: SystemPackage[], reason: string): string;

export declare const CHROMIUM_ARGS: string[];
