using OnnxLm.Builder;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>
/// The int4 layouts users' CPU folders come in: MatMulNBits block 32 or 128, <c>accuracy_level</c> 4 (int8 compute,
/// the model builder's CPU default) or unset. Each runs through the engine with oracle parity, and the graph carries the
/// attributes asked for.
/// </summary>
public sealed class Int4VariantParityTests
{
    public static IEnumerable<Func<(int Block, int Accuracy)>> Variants() => [() => (32, 4), () => (128, 4), () => (32, 0), () => (128, 0)];

    [Test]
    [MethodDataSource(nameof(Variants))]
    public async Task Int4_variant_matches_the_oracle((int Block, int Accuracy) v)
    {
        string dir = TestModels.Get(ModelBuilderOptions.Tiny with
        {
            Weights = WeightFormat.Int4,
            HiddenSize = 128,
            HeadSize = 32,
            NumHeads = 4,
            NumKvHeads = 2,
            IntermediateSize = 256,
            Int4BlockSize = v.Block,
            Int4AccuracyLevel = v.Accuracy,
        });
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, ModelBuilder.ModelFileName)));
        var matmuls = model.Graph.Node.Where(n => n.OpType == "MatMulNBits").ToList();
        await Assert.That(matmuls.Count).IsGreaterThan(0);
        foreach (var node in matmuls)
        {
            await Assert.That(node.Attribute.Single(a => a.Name == "block_size").I).IsEqualTo(v.Block);
            var accuracy = node.Attribute.SingleOrDefault(a => a.Name == "accuracy_level");
            await Assert.That(accuracy?.I ?? 0).IsEqualTo(v.Accuracy);
        }

        using var engine = EngineDriver.Start(dir, maxBatchSize: 2);
        var prompts = new[] { EngineDriver.RandomPrompt(7, 19), EngineDriver.RandomPrompt(8, 40) };
        var runs = prompts.Select(p => EngineDriver.Submit(engine, EngineDriver.Greedy(p, 24))).ToArray();
        for (int i = 0; i < prompts.Length; i++)
        {
            var result = await runs[i].Completion;
            await Assert.That(result.Error).IsNull();
            var expected = Oracle.GreedyTokens(dir, prompts[i], 24);
            await Assert.That(string.Join(",", result.TokensWithoutEos(engine.Contract.Config.EosTokenIds))).IsEqualTo(string.Join(",", expected));
        }
    }
}
