namespace OnnxLm.Load.Workloads;

/// <summary>
/// Chats of <c>turns</c> turns. Each turn sends the whole conversation so far: earlier user messages, the server's own
/// earlier answers (as streamed back), and a new user message. The prompt therefore grows turn by turn and every turn
/// after the first shares the previous turn's prompt as a prefix. With <c>sessionKeys</c> each conversation sends its
/// own <c>prompt_cache_key</c>, so a balancer that hashes it keeps the conversation on one replica.
/// </summary>
public sealed class MultiTurnWorkload(int turns, LengthSpec firstInput, LengthSpec turnInput, LengthSpec output, int seed, bool sessionKeys = false)
    : Workload
{
    readonly Random rng = new(seed);
    int conversations;

    public override string Name => "multi-turn";

    public override string Describe() =>
        $"multi-turn: {turns} turns, first message {firstInput} tokens, later messages {turnInput} tokens, output {output} tokens per turn, chat";

    protected override Session CreateSession()
    {
        // Draw every length and text now, under the workload lock, so the session itself needs no shared state.
        var questions = new string[turns];
        var outputs = new int[turns];
        for (int t = 0; t < turns; t++)
        {
            questions[t] = PromptText.RandomWords(rng, (t == 0 ? firstInput : turnInput).Sample(rng));
            outputs[t] = output.Sample(rng);
        }
        string? key = sessionKeys ? $"conversation-{seed}-{conversations++}" : null;
        return new Conversation(questions, outputs, key);
    }

    sealed class Conversation(string[] questions, int[] outputs, string? key) : Session
    {
        readonly List<ChatTurn> messages = new(questions.Length * 2);
        int turn;

        public override bool TryNext(string? previousAnswer, out RequestPlan plan)
        {
            plan = null!;
            if (turn == questions.Length) return false;
            if (turn > 0) messages.Add(new ChatTurn("assistant", previousAnswer ?? ""));
            messages.Add(new ChatTurn("user", questions[turn]));
            // A copy: the list keeps growing after this request is sent.
            plan = new RequestPlan { Kind = EndpointKind.Chat, Messages = messages.ToArray(), MaxTokens = outputs[turn], CollectText = true, SessionKey = key };
            turn++;
            return true;
        }
    }
}
