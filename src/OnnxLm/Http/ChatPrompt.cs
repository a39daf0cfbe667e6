using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Http;

/// <summary>
/// Renders parsed chat messages into the JSON array the model's chat template takes, straight from the request buffer:
/// a single-string content is copied as the client's own JSON token (already valid, escapes included), text parts are
/// unescaped and joined. The buffers are per thread and rendering never awaits, so no two requests share them.
/// </summary>
internal static class ChatPrompt
{
    [ThreadStatic] static ArrayBufferWriter<byte>? t_json;
    [ThreadStatic] static ArrayBufferWriter<byte>? t_text;
    [ThreadStatic] static Utf8JsonWriter? t_writer;
    [ThreadStatic] static UnescapeBuffer? t_unescape;

    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    /// <summary>The template's output for <paramref name="messages"/> (with the assistant generation prompt), with
    /// <paramref name="toolsJson"/> as the template's <c>tools</c>. A template that never reads <c>tools</c> (Phi-3,
    /// Gemma) would drop the definitions: then <paramref name="toolInstructions"/> (the tools and the call format in
    /// words) joins the system message, or becomes one when the conversation has none.</summary>
    public static string Render(InferenceEngine engine, ReadOnlySpan<byte> json, PooledList<ChatMessageBody> messages, bool addGenerationPrompt = true,
        string? toolsJson = null, string? toolInstructions = null)
    {
        if (toolInstructions is not null && engine.Prompts.ChatTemplate.Template is { } template && template.Contains("tools", StringComparison.Ordinal))
            toolInstructions = null;
        if (messages.Count == 0) throw ApiError.BadRequest("messages must be a non-empty array", "messages");
        var buffer = t_json ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        w.Reset(buffer);
        w.WriteStartArray();
        bool mergeInstructions = toolInstructions is not null && Role(json, messages[0].Role, 0).SequenceEqual("system"u8);
        if (toolInstructions is not null && !mergeInstructions)
        {
            w.WriteStartObject();
            w.WriteString("role"u8, "system"u8);
            w.WriteString("content"u8, toolInstructions);
            w.WriteEndObject();
        }
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            w.WriteStartObject();
            w.WritePropertyName("role"u8);
            w.WriteStringValue(Role(json, m.Role, i));
            w.WritePropertyName("content"u8);
            if (i == 0 && mergeInstructions) w.WriteStringValue(Text(json, m.Content) + "\n\n" + toolInstructions);
            else WriteContent(w, json, m.Content);
            if (m.Name.HasValue)
            {
                w.WritePropertyName("name"u8);
                w.WriteRawValue(json.Slice(m.Name.Start - 1, m.Name.Length + 2), skipInputValidation: true);
            }
            if (m.ToolCallId.HasValue)
            {
                w.WritePropertyName("tool_call_id"u8);
                w.WriteRawValue(json.Slice(m.ToolCallId.Start - 1, m.ToolCallId.Length + 2), skipInputValidation: true);
            }
            if (m.ToolCalls.HasValue)
            {
                w.WritePropertyName("tool_calls"u8);
                WriteToolCalls(w, m.ToolCalls.RawBytes(json), i);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.Flush();
        // The engine's template API takes a string: the one copy of the prompt text this path makes.
        string messagesJson = Encoding.UTF8.GetString(buffer.WrittenSpan);
        if (buffer.Capacity > 1 << 20)
        {
            // Do not keep a huge request's buffer alive on this thread (the writer holds it too).
            t_json = null;
            t_writer = null;
        }
        try
        {
            return engine.Prompts.ApplyChatTemplate(messagesJson, addGenerationPrompt, toolsJson);
        }
        catch (ChatTemplateException e)
        {
            // The template's own words (roles must alternate, no system role, ...): the request or the model is at fault.
            throw ApiError.BadRequest(e.Message, "messages", e.Missing ? "chat_template_missing" : "chat_template_error");
        }
    }

    /// <summary>
    /// An assistant turn's <c>tool_calls</c>, as Hugging Face templates expect them: each call's
    /// <c>function.arguments</c> is a JSON object (Qwen, Llama 3.x write <c>arguments | tojson</c> or iterate it), where
    /// OpenAI clients send the object as a JSON string. Arguments that are not a JSON object stay as sent.
    /// </summary>
    static void WriteToolCalls(Utf8JsonWriter w, ReadOnlySpan<byte> raw, int message)
    {
        string param = $"messages[{message}].tool_calls";
        using var doc = JsonDocument.Parse(raw.ToArray());
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
            throw ApiError.BadRequest($"{param} must be an array of tool calls", param);
        w.WriteStartArray();
        int k = 0;
        foreach (var call in doc.RootElement.EnumerateArray())
        {
            if (call.ValueKind != JsonValueKind.Object
                || !call.TryGetProperty("function"u8, out var function) || function.ValueKind != JsonValueKind.Object
                || !function.TryGetProperty("name"u8, out var name) || name.ValueKind != JsonValueKind.String)
                throw ApiError.BadRequest($"{param}[{k}] must be an object with function.name", $"{param}[{k}]");
            w.WriteStartObject();
            foreach (var property in call.EnumerateObject())
            {
                if (property.NameEquals("function"u8)) continue;
                property.WriteTo(w);
            }
            if (!call.TryGetProperty("type"u8, out _)) w.WriteString("type"u8, "function"u8);
            w.WriteStartObject("function"u8);
            foreach (var property in function.EnumerateObject())
            {
                if (property.NameEquals("arguments"u8) && property.Value.ValueKind == JsonValueKind.String
                    && ParsedObject(property.Value.GetString()!) is { } arguments)
                {
                    using (arguments)
                    {
                        w.WritePropertyName("arguments"u8);
                        arguments.RootElement.WriteTo(w);
                    }
                    continue;
                }
                property.WriteTo(w);
            }
            w.WriteEndObject();
            w.WriteEndObject();
            k++;
        }
        w.WriteEndArray();
    }

    static JsonDocument? ParsedObject(string text)
    {
        try
        {
            var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
            doc.Dispose();
        }
        catch (JsonException)
        {
        }
        return null;
    }

    static ReadOnlySpan<byte> Role(ReadOnlySpan<byte> json, Utf8Slice role, int i)
    {
        if (role.ValueEquals(json, "user"u8)) return "user"u8;
        if (role.ValueEquals(json, "assistant"u8)) return "assistant"u8;
        if (role.ValueEquals(json, "system"u8)) return "system"u8;
        // Templates predate the developer role; it is OpenAI's new name for the system message.
        if (role.ValueEquals(json, "developer"u8)) return "system"u8;
        if (role.ValueEquals(json, "tool"u8)) return "tool"u8;
        throw ApiError.BadRequest($"messages[{i}].role '{role.GetString(json)}' is not one of system, developer, user, assistant, tool", $"messages[{i}].role");
    }

    static string Text(ReadOnlySpan<byte> json, TextContent content)
    {
        var text = new System.Text.StringBuilder();
        foreach (var p in content.Parts.AsSpan()) text.Append(p.GetString(json));
        return text.ToString();
    }

    static void WriteContent(Utf8JsonWriter w, ReadOnlySpan<byte> json, TextContent content)
    {
        var parts = content.Parts;
        if (!content.IsPresent)
        {
            w.WriteNullValue();   // absent or null (an assistant turn that only called tools): templates test for none
            return;
        }
        if (parts.Count == 0)
        {
            w.WriteStringValue(""u8);   // []
            return;
        }
        if (parts.Count == 1)
        {
            // The client's quoted token is valid JSON for the same text: copy it without unescaping.
            var p = parts[0];
            w.WriteRawValue(json.Slice(p.Start - 1, p.Length + 2), skipInputValidation: true);
            return;
        }
        var text = t_text ??= new ArrayBufferWriter<byte>(4096);
        text.ResetWrittenCount();
        var scratch = t_unescape ??= new UnescapeBuffer();
        foreach (var p in parts.AsSpan()) text.Write(p.GetUtf8(json, scratch));
        w.WriteStringValue(text.WrittenSpan);
        if (text.Capacity > 1 << 20) t_text = null;
    }
}
