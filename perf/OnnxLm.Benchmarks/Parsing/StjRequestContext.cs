using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxLm.Benchmarks.Parsing;

/// <summary>Source-generated (reflection-free) metadata for the STJ baseline, with the server's reader limits.</summary>
[JsonSourceGenerationOptions(MaxDepth = 32, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(StjChatRequest))]
internal sealed partial class StjRequestContext : JsonSerializerContext;
