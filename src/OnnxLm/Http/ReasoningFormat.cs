namespace OnnxLm.Http;

/// <summary>
/// What chat completions do with a reasoning model's thought (<c>&lt;think&gt;…&lt;/think&gt;</c>).
/// <see cref="DeepSeek"/>: split it into <c>reasoning_content</c>, the field DeepSeek's API introduced and vLLM and
/// llama-server return (llama-server's <c>--reasoning-format deepseek</c>); <see cref="None"/>: keep the raw text, tags
/// included, in <c>content</c>.
/// </summary>
public enum ReasoningFormat : byte { DeepSeek, None }
