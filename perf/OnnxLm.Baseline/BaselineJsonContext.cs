using System.Text.Json.Serialization;

namespace OnnxLm.Baseline;

/// <summary>Source-generated request binding (no reflection; the app is AOT-analysed).</summary>
[JsonSerializable(typeof(BaselineRequest))]
[JsonSerializable(typeof(List<BaselineMessage>))]
internal sealed partial class BaselineJsonContext : JsonSerializerContext;
