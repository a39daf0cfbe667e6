using System.Buffers;
using System.Text.Json;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Load.Client;

/// <summary>
/// Writes the JSON body of a streaming request with <see cref="Utf8JsonWriter"/>. Every body asks for
/// <c>stream: true</c> and <c>stream_options.include_usage: true</c>, so output and cached token counts come from the
/// server's usage chunk. Replay bodies are copied property by property with those two replaced. A
/// <see cref="RequestOptions.ResponseFormat"/> is written as <c>response_format</c> (replacing a replay line's own).
/// </summary>
public static class RequestBodyWriter
{
    public static void Write(IBufferWriter<byte> output, RequestPlan plan, RequestOptions options)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        if (plan.RawBody is { } raw)
        {
            foreach (var p in raw.EnumerateObject())
            {
                if (p.NameEquals("stream"u8) || p.NameEquals("stream_options"u8)) continue;
                if (options.IgnoreEos && p.NameEquals("ignore_eos"u8)) continue;
                if (options.Model is not null && p.NameEquals("model"u8)) continue;
                if (options.ResponseFormat is not null && p.NameEquals("response_format"u8)) continue;
                p.WriteTo(w);
            }
            if (options.Model is not null) w.WriteString("model"u8, options.Model);
        }
        else
        {
            if (options.Model is not null) w.WriteString("model"u8, options.Model);
            if (plan.Messages is { } messages)
            {
                w.WriteStartArray("messages"u8);
                foreach (var m in messages)
                {
                    w.WriteStartObject();
                    w.WriteString("role"u8, m.Role);
                    w.WriteString("content"u8, m.Content);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            else if (plan.PromptTokenIds is { } ids)
            {
                w.WriteStartArray("prompt"u8);
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            else w.WriteString("prompt"u8, plan.Prompt ?? "");
            if (plan.MaxTokens > 0) w.WriteNumber("max_tokens"u8, plan.MaxTokens);
            w.WriteNumber("temperature"u8, options.Temperature);
            if (options.Seed is { } seed) w.WriteNumber("seed"u8, seed);
        }
        if (options.ResponseFormat is { } format)
        {
            w.WritePropertyName("response_format"u8);
            w.WriteRawValue(format);
        }
        if (options.IgnoreEos) w.WriteBoolean("ignore_eos"u8, true);
        if (plan.SessionKey is { } key) w.WriteString("prompt_cache_key"u8, key);
        w.WriteBoolean("stream"u8, true);
        w.WriteStartObject("stream_options"u8);
        w.WriteBoolean("include_usage"u8, true);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
