using System.Text;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Tools;

/// <summary>A tool-call step through the engine's mask (mask the logits, take the best allowed id, advance) allocates
/// nothing once the matcher exists, over Qwen 2.5's 151k vocabulary; the best allowed ids always form valid calls.</summary>
public class ToolMaskAllocationTests
{
    [Test]
    public async Task A_tool_call_step_allocates_nothing()
    {
        var vocabulary = TokenVocabulary.Load(await RealFamilies.Qwen25.TokenizerJsonAsync());
        const int eos = 151_645;
        var mask = new GrammarMask(vocabulary, [eos]);
        string[] names = ["get_weather", "now"];
        JsonGrammar[] arguments =
        [
            JsonSchemaCompiler.Compile("""{"type":"object","properties":{"city":{"type":"string","maxLength":10},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}"""u8.ToArray()),
            JsonSchemaCompiler.Compile("""{"type":"object","properties":{},"additionalProperties":false}"""u8.ToArray()),
        ];
        var grammar = new ToolCallGrammar(ToolCallFormat.Hermes, mask.Trie, names, arguments, ToolChoiceMode.Required, parallel: true);
        var matcher = mask.NewToolMatcher(grammar);
        var logits = new float[151_936];
        var rng = new Random(2);
        var tokens = new int[400];
        Run(mask, matcher, logits, rng, tokens);   // warm-up: JIT and first-use paths
        matcher.Reset();
        long before = GC.GetAllocatedBytesForCurrentThread();
        int steps = Run(mask, matcher, logits, rng, tokens);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(steps).IsGreaterThan(10);
        await Assert.That(allocated).IsEqualTo(0L);

        var parser = new ToolCallParser(ToolCallFormat.Hermes, vocabulary, startsInCall: true);
        foreach (int t in tokens.AsSpan(0, steps)) parser.Feed(t, vocabulary.GetBytes(t));
        parser.Finish();
        await Assert.That(parser.HasCalls).IsTrue();
        foreach (var call in parser.Calls) await Assert.That(names).Contains(call.Name!);

        static int Run(GrammarMask mask, ToolCallMatcher matcher, float[] logits, Random rng, int[] tokens)
        {
            int steps = 0;
            while (steps < tokens.Length)
            {
                for (int i = 0; i < logits.Length; i++) logits[i] = (float)rng.NextDouble();
                mask.Apply(matcher, ignoreEos: false, logits);
                int best = 0;
                for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
                if (best == eos || float.IsNegativeInfinity(logits[best])) break;
                if (!matcher.TryAdvance(best)) throw new InvalidOperationException($"the mask allowed {best} but the matcher refused it");
                tokens[steps++] = best;
                if (matcher.IsAccepting && !matcher.CanContinue) break;
            }
            return steps;
        }
    }
}
