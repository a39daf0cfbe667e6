using System.Text;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>A constrained decode step (mask, advance, accepting checks) allocates nothing after warm-up; pooled
/// matchers are reused across requests and forks.</summary>
public class GrammarMatcherAllocationTests
{
    [Test]
    public async Task Constrained_steps_allocate_zero_bytes_after_warm_up()
    {
        TokenTrie trie = ConstraintFixtures.Qwen;
        JsonGrammar grammar = ConstraintFixtures.Compile(SchemaCorpus.Get("create_event").Schema);
        string document = SchemaCorpus.Get("create_event").Example!;
        var pool = new GrammarMatcherPool(trie);
        GrammarMatcher matcher = pool.Rent(grammar);
        var mask = new ulong[matcher.MaskWords + 5]; // logits wider than the vocabulary, as in Qwen2.5
        byte[] bytes = Encoding.UTF8.GetBytes(document);

        void Run()
        {
            matcher.Reset();
            foreach (byte b in bytes)
            {
                matcher.ComputeMask(mask);
                _ = matcher.IsAccepting;
                _ = matcher.CanContinue;
                if (!matcher.TryAdvanceBytes(new ReadOnlySpan<byte>(in b)))
                {
                    throw new InvalidOperationException("document rejected");
                }
            }
        }

        Run(); // warm-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(allocated).IsEqualTo(0);
        await Assert.That(matcher.IsAccepting).IsTrue();

        pool.Return(matcher);
        GrammarMatcher again = pool.Rent(grammar);
        await Assert.That(ReferenceEquals(again, matcher)).IsTrue();
        await Assert.That(again.IsAccepting).IsFalse();
        GrammarMatcher fork = pool.RentCopy(again);
        await Assert.That(ReferenceEquals(fork, again)).IsFalse();
    }
}
