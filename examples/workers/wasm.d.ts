/** Wrangler and workerd import `.wasm` files as compiled modules (wrangler: CompiledWasm rule). */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
