/** Reads and checks the manifest a compiled module carries in its custom section. */
import { ABI_VERSION, MANIFEST_SECTION, type Manifest } from './abi.js';
import { BpfRuntimeError, ErrorCode } from './errors.js';
import { CONTEXT_KINDS } from './uapi/index.js';

/** Reads the manifest of a compiled module; throws E_BAD_MODULE if it is missing or from another ABI. */
export function readManifest(module: WebAssembly.Module): Manifest {
  const sections = WebAssembly.Module.customSections(module, MANIFEST_SECTION);
  if (sections.length !== 1) {
    throw new BpfRuntimeError(
      ErrorCode.BadModule,
      'the module has no bpf2wasm manifest: it was not produced by bpf2wasm compile',
    );
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(sections[0])) as Manifest;
  } catch {
    throw new BpfRuntimeError(ErrorCode.BadModule, 'the module manifest is not valid JSON');
  }
  if (typeof manifest !== 'object' || manifest === null || manifest.abiVersion !== ABI_VERSION) {
    throw new BpfRuntimeError(
      ErrorCode.BadModule,
      `the module was built for bpf2wasm ABI ${String((manifest as { abiVersion?: unknown } | null)?.abiVersion)}, this runtime speaks ABI ${ABI_VERSION}`,
    );
  }
  if (!Array.isArray(manifest.programs) || !Array.isArray(manifest.helpers) || typeof manifest.layout !== 'object' || manifest.layout === null) {
    throw new BpfRuntimeError(ErrorCode.BadModule, 'the module manifest is incomplete');
  }
  if (manifest.programs.length === 0) throw new BpfRuntimeError(ErrorCode.BadModule, 'the module manifest lists no programs');
  for (const p of manifest.programs as unknown[]) {
    const context = (p as { context?: unknown } | null)?.context;
    if (!(CONTEXT_KINDS as readonly unknown[]).includes(context)) {
      throw new BpfRuntimeError(ErrorCode.BadModule, `the module manifest gives a program the context ${JSON.stringify(context) ?? 'undefined'}, not one of ${CONTEXT_KINDS.join(', ')}`);
    }
  }
  const { initialPages, maximumPages } = manifest.layout;
  const pages = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65536;
  if (!pages(initialPages) || !pages(maximumPages) || initialPages > maximumPages) {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module manifest asks for ${String(initialPages)} to ${String(maximumPages)} pages of memory, not 1 to 65536`);
  }
  return manifest;
}
