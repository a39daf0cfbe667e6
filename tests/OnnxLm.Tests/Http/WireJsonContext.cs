using System.Text.Json.Serialization;

namespace OnnxLm.Tests.Http;

/// <summary>Source-generated JSON for the few values the tests serialize (string literals inside request bodies).</summary>
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class WireJsonContext : JsonSerializerContext;
