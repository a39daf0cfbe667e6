// Entry point. Modes:
//   engine [...]     end-to-end engine vs GenAI comparison (Stopwatch, medians of N repeats, JSON + markdown); not BDN.
//   engine-child     one runtime alone in this process, for `engine` (internal).
//   streamed [...]   one streamed request through `onnxlm serve` (HTTP) vs GenAI in-process, int4 benchmark model.
//   prefix [...]     prefix KV cache: TTFT cached vs cold (RAM and SSD tier), shared-prefix and 0%-hit throughput, int8 accuracy.
//   ssd [...]        SSD tier: TTFT after a restart vs cold, write-through effect on decode.
//   context [...]    decode tok/s at configured context 131,072 vs 2,048 on one model, same conversation.
//   bandwidth [...]  the machine's memory read bandwidth (the decode limit), JSON.
//   startup [...]    1B-shaped int4 models with real vocabularies: ready time, RSS, chat TTFT, onnxlm vs GenAI.
//   report [...]     docs/BENCHMARKS.md tables from the JSON results (no number in the docs is typed by hand).
//   enforcement [...]  constrained decoding: refused / accepted and valid / accepted with an invalid output (ajv), corpus + JSON-Schema-Test-Suite.
//   mask-latency [...]  constrained decoding: mask time per step over the schema corpus at 32k/128k/151k/262k vocabularies.
//   smoke  [...]     CI: every micro-benchmark once in-process (dry job) + the committed allocation budget check.
//   anything else    BenchmarkDotNet's switcher (--filter, --job, ...), then the same allocation check on what ran.
// Every mode returns non-zero on failure, including a filter that matches nothing (BenchmarkDotNet itself exits 0 then).
using OnnxLm.Benchmarks.EndToEnd;
using OnnxLm.Benchmarks.Harness;
using OnnxLm.Benchmarks.Machine;
using OnnxLm.Benchmarks.Reporting;

return args.Length > 0 && args[0] == "engine" ? EngineComparison.Run(args[1..])
    : args.Length > 0 && args[0] == IsolatedRun.Mode ? IsolatedRun.Child(args[1..])
    : args.Length > 0 && args[0] == "streamed" ? StreamedServing.Run(args[1..])
    : args.Length > 0 && args[0] == "prefix" ? PrefixCacheBenchmark.Run(args[1..])
    : args.Length > 0 && args[0] == "ssd" ? SsdTierBenchmark.Run(args[1..])
    : args.Length > 0 && args[0] == "context" ? ContextLengthBenchmark.Run(args[1..])
    : args.Length > 0 && args[0] == "bandwidth" ? BandwidthProbe.Run(args[1..])
    : args.Length > 0 && args[0] == "startup" ? RealVocabStartup.Run(args[1..])
    : args.Length > 0 && args[0] == RealVocabStartup.ChildMode ? RealVocabStartup.Child(args[1..])
    : args.Length > 0 && args[0] == "report" ? DocsReport.Run(args[1..])
    : args.Length > 0 && args[0] == "enforcement" ? OnnxLm.Benchmarks.Constraints.EnforcementReport.Run(args[1..])
    : args.Length > 0 && args[0] == "mask-latency" ? OnnxLm.Benchmarks.Constraints.MaskLatencyRun.Run(args[1..])
    : args.Length > 0 && args[0] == "smoke" ? MicroBenchmarks.Smoke(args[1..])
    : MicroBenchmarks.Run(args);
