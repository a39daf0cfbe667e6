using System.Text;

namespace OnnxLm.Tests.Http.Parsing;

/// <summary>Request bodies shared by the parser tests: a typical ~4 KB chat request and small variations.</summary>
internal static class SampleRequests
{
    public const string SystemPrompt = "You are a careful assistant. Answer briefly, cite sources when you can, and say \\\"I don't know\\\" when unsure.";

    /// <summary>System + 6 turns with sampling parameters, the shape an OpenAI SDK sends; about 4 KB.</summary>
    public static byte[] TypicalChat()
    {
        var json = new StringBuilder();
        json.Append("{\"model\":\"qwen2.5-0.5b-instruct\",\"messages\":[");
        json.Append("{\"role\":\"system\",\"content\":\"").Append(SystemPrompt).Append("\"}");
        for (int turn = 0; turn < 6; turn++)
        {
            string role = turn % 2 == 0 ? "user" : "assistant";
            json.Append(",{\"role\":\"").Append(role).Append("\",\"content\":\"");
            json.Append(Turn(turn));
            json.Append("\"}");
        }
        json.Append("],\"max_tokens\":256,\"temperature\":0.7,\"top_p\":0.95,\"top_k\":40,\"min_p\":0.05,\"seed\":1234567890123,");
        json.Append("\"stop\":[\"</s>\",\"\\nUser:\"],\"presence_penalty\":0.1,\"frequency_penalty\":0.2,\"repetition_penalty\":1.1,");
        json.Append("\"logit_bias\":{\"50256\":-100,\"198\":2.5},\"n\":1,\"stream\":true,\"stream_options\":{\"include_usage\":true},");
        json.Append("\"user\":\"user-42\",\"response_format\":{\"type\":\"text\"},\"tool_choice\":\"none\",\"ignore_eos\":false}");
        return Encoding.UTF8.GetBytes(json.ToString());
    }

    /// <summary>The decoded text of turn <paramref name="turn"/> of <see cref="TypicalChat"/>.</summary>
    public static string TurnText(int turn) => Turn(turn).Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\"", "\"", StringComparison.Ordinal);

    static string Turn(int turn)
    {
        var text = new StringBuilder();
        text.Append("Turn ").Append(turn).Append(": ");
        for (int i = 0; i < 6; i++)
            text.Append("the quick brown fox jumps over the lazy dog, then asks about KV caches and \\\"paged\\\" attention.\\n");
        return text.ToString();
    }
}
