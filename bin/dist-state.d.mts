export declare const SOURCE_ROOTS: string[];
export declare const STAMP_FILE: string;
export declare function sourceState(root: string): { files: string[]; signature: string };
export declare function freshEntry(root: string): string | null;
export declare function distIsFresh(root: string): boolean;
