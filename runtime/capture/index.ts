/**
 * Capture files in and out (pcap, pcapng), usable wherever the runtime runs (no `node:*`).
 */
export * from './frame.js';
export { readCapture, readCaptureSync, captureFormat, type CaptureSource } from './reader.js';
export { PcapParser, PcapMagic, isPcapMagic, type PcapHeader } from './pcap.js';
export { PcapngParser, BlockType, isPcapngMagic } from './pcapng.js';
export { PcapWriter, PcapngWriter, writePcap, concatBytes, type FrameToWrite, type PcapWriterOptions, type PcapngInterface } from './writer.js';
export { runClassicFilter, runClassicOnBytes, runClassicBatch, CLASSIC_LEN_TRAILER, type ClassicEngine, type ClassicVerdict } from './classic.js';
