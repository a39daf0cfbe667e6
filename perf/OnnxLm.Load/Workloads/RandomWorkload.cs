namespace OnnxLm.Load.Workloads;

/// <summary>Independent single requests with input and output lengths drawn from their distributions.</summary>
public sealed class RandomWorkload(PromptSource prompts, LengthSpec input, LengthSpec output, int seed) : Workload
{
    readonly Random rng = new(seed);

    public override string Name => "random";

    public override string Describe() => $"random: input {input} tokens, output {output} tokens, {prompts.Describe()}";

    protected override Session CreateSession() =>
        new SingleRequestSession(prompts.Single(rng, input.Sample(rng), output.Sample(rng)));
}
