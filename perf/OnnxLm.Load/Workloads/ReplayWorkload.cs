using System.Text.Json;

namespace OnnxLm.Load.Workloads;

/// <summary>
/// Requests read from a JSONL file: one OpenAI request body per line (<c>messages</c> → chat, <c>prompt</c> →
/// completions). Lines are sent in file order and the file is cycled when more requests are asked for than it has.
/// Blank lines are skipped; a line that is not an object with messages or prompt is an error naming its line number.
/// </summary>
public sealed class ReplayWorkload : Workload
{
    readonly string path;
    readonly RequestPlan[] plans;
    int next;

    public ReplayWorkload(string path)
    {
        this.path = path;
        plans = Parse(File.ReadLines(path));
        if (plans.Length == 0) throw new FormatException($"{path}: no requests");
    }

    public int Count => plans.Length;

    public override string Name => "replay";

    public override string Describe() => $"replay: {plans.Length} requests from {Path.GetFileName(path)}";

    protected override Session CreateSession() => new SingleRequestSession(plans[next++ % plans.Length]);

    public static RequestPlan[] Parse(IEnumerable<string> lines)
    {
        var plans = new List<RequestPlan>();
        int lineNo = 0;
        foreach (var line in lines)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try
            {
                // Cloned so the element outlives its document.
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new FormatException($"line {lineNo}: not JSON ({e.Message})");
            }
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException($"line {lineNo}: expected a JSON object");
            EndpointKind kind;
            if (root.TryGetProperty("messages", out _)) kind = EndpointKind.Chat;
            else if (root.TryGetProperty("prompt", out _)) kind = EndpointKind.Completion;
            else throw new FormatException($"line {lineNo}: needs \"messages\" (chat) or \"prompt\" (completions)");
            int maxTokens = 0;
            if (root.TryGetProperty("max_tokens", out var mt) && mt.ValueKind == JsonValueKind.Number) maxTokens = mt.GetInt32();
            else if (root.TryGetProperty("max_completion_tokens", out mt) && mt.ValueKind == JsonValueKind.Number) maxTokens = mt.GetInt32();
            plans.Add(new RequestPlan { Kind = kind, RawBody = root, MaxTokens = maxTokens });
        }
        return plans.ToArray();
    }
}
