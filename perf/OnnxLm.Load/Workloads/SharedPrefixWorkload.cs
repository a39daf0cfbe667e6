namespace OnnxLm.Load.Workloads;

/// <summary>
/// Requests in <c>groups</c> groups; all requests of a group start with the same system prompt of
/// <c>systemTokens</c> tokens, followed by a fresh question of <c>questionTokens</c> tokens. Groups are chosen round
/// robin so every group's prefix is reused evenly (and the first <c>groups</c> requests are the cold ones).
/// </summary>
public sealed class SharedPrefixWorkload : Workload
{
    readonly PromptSource prompts;
    readonly PrefixPrompt[] prefixes;
    readonly LengthSpec question;
    readonly LengthSpec output;
    readonly Random rng;
    int next;

    public SharedPrefixWorkload(PromptSource prompts, int groups, int systemTokens, LengthSpec question, LengthSpec output, int seed)
    {
        this.prompts = prompts;
        this.question = question;
        this.output = output;
        rng = new Random(seed);
        prefixes = new PrefixPrompt[groups];
        for (int g = 0; g < groups; g++) prefixes[g] = prompts.MakePrefix(rng, systemTokens);
        SystemTokens = systemTokens;
    }

    public int SystemTokens { get; }

    public override string Name => "shared-prefix";

    public override string Describe() =>
        $"shared-prefix: {prefixes.Length} groups × {SystemTokens}-token system prompt + {question}-token question, output {output} tokens, {prompts.Describe()}";

    protected override Session CreateSession()
    {
        var prefix = prefixes[next++ % prefixes.Length];
        return new SingleRequestSession(prompts.WithPrefix(rng, prefix, question.Sample(rng), output.Sample(rng)));
    }
}
