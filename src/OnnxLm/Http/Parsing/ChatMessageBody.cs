namespace OnnxLm.Http.Parsing;

/// <summary>One entry of <c>messages</c>. Texts stay in the request buffer (see <see cref="Utf8Slice"/>).</summary>
[JsonRequest]
public sealed partial class ChatMessageBody
{
    [JsonField("role", MaxLength = 32, Required = true)] public Utf8Slice Role { get; set; }
    [JsonField("content", MaxItems = 256)] public TextContent Content { get; } = new();
    [JsonField("name", MaxLength = 256)] public Utf8Slice Name { get; set; }
    [JsonField("tool_call_id", MaxLength = 256)] public Utf8Slice ToolCallId { get; set; }
    /// <summary>An assistant turn's earlier tool calls; handed to the chat template (see <c>ChatPrompt</c>).</summary>
    [JsonField("tool_calls")] public RawJson ToolCalls { get; set; }
}
