using System.Text.Json.Serialization;

namespace OnnxLm.Hub;

/// <summary><c>GET /api/models/{repo}/revision/{rev}</c> (only the fields used).</summary>
internal sealed class HubRevisionInfo
{
    [JsonPropertyName("sha")] public string? Sha { get; set; }
}

/// <summary>One entry of <c>GET /api/models/{repo}/tree/{rev}/{path}?recursive=true</c>.</summary>
internal sealed class HubTreeEntry
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("oid")] public string Oid { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("lfs")] public HubLfsInfo? Lfs { get; set; }
}

internal sealed class HubLfsInfo
{
    [JsonPropertyName("oid")] public string Oid { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
}

[JsonSerializable(typeof(HubRevisionInfo))]
[JsonSerializable(typeof(List<HubTreeEntry>))]
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = false)]
internal sealed partial class HubJsonContext : JsonSerializerContext;
