using System.Text.Json.Serialization;

namespace OnnxLm.Tests.Http.Parsing;

/// <summary>Source-generated JSON for test inputs (reflection-based serialization is off in this solution).</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class TestJson : JsonSerializerContext;
