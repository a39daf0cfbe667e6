
namespace OnnxLm.Load.Workloads;

/// <summary>
/// How prompt text of a given token length is produced: random words (chat or completions), or random token ids
/// (completions only, exact lengths). Shared by the random and shared-prefix workloads.
/// </summary>
public sealed class PromptSource(EndpointKind kind, bool exactTokens, int minTokenId, int maxTokenIdExclusive)
{
    public EndpointKind Kind => exactTokens ? EndpointKind.Completion : kind;

    public bool ExactTokens => exactTokens;

    public RequestPlan Single(Random rng, int inputTokens, int maxTokens)
    {
        if (exactTokens)
            return new RequestPlan
            {
                Kind = EndpointKind.Completion,
                PromptTokenIds = PromptText.TokenIds(rng, inputTokens, minTokenId, maxTokenIdExclusive),
                MaxTokens = maxTokens,
            };
        string text = PromptText.RandomWords(rng, inputTokens);
        return kind == EndpointKind.Chat
            ? new RequestPlan { Kind = EndpointKind.Chat, Messages = [new ChatTurn("user", text)], MaxTokens = maxTokens }
            : new RequestPlan { Kind = EndpointKind.Completion, Prompt = text, MaxTokens = maxTokens };
    }

    /// <summary>A request whose prompt starts with <paramref name="prefix"/> (text or ids, as this source makes them).</summary>
    public RequestPlan WithPrefix(Random rng, PrefixPrompt prefix, int questionTokens, int maxTokens)
    {
        if (exactTokens)
        {
            var ids = new int[prefix.TokenIds!.Length + questionTokens];
            prefix.TokenIds.CopyTo(ids, 0);
            for (int i = prefix.TokenIds.Length; i < ids.Length; i++) ids[i] = rng.Next(minTokenId, maxTokenIdExclusive);
            return new RequestPlan { Kind = EndpointKind.Completion, PromptTokenIds = ids, MaxTokens = maxTokens };
        }
        string question = PromptText.RandomWords(rng, questionTokens);
        if (kind == EndpointKind.Chat)
            return new RequestPlan
            {
                Kind = EndpointKind.Chat,
                Messages = [new ChatTurn("system", prefix.Text!), new ChatTurn("user", question)],
                MaxTokens = maxTokens,
            };
        return new RequestPlan { Kind = EndpointKind.Completion, Prompt = prefix.Text + "\n" + question, MaxTokens = maxTokens };
    }

    public PrefixPrompt MakePrefix(Random rng, int tokens) => exactTokens
        ? new PrefixPrompt(null, PromptText.TokenIds(rng, tokens, minTokenId, maxTokenIdExclusive))
        : new PrefixPrompt(PromptText.RandomWords(rng, tokens), null);

    public string Describe() => exactTokens
        ? $"completions, token-id prompts (ids {minTokenId}..{maxTokenIdExclusive - 1})"
        : (kind == EndpointKind.Chat ? "chat, random-word prompts" : "completions, random-word prompts");
}

