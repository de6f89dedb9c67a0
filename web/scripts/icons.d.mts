// Types of icons.mjs for the Vitest test that checks the committed icons.
export declare const icons: { file: string; size: number; kind: 'any' | 'maskable' | 'opaque' }[];
export declare function render(size: number, kind: 'any' | 'maskable' | 'opaque'): Buffer;
