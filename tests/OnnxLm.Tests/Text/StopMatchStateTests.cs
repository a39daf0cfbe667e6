using System.Text;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Text;

public class StopMatchStateTests
{
    /// <summary>Feeds the chunks in order, then flushes unless stopped; returns the text emitted and whether it stopped.</summary>
    private static (string Text, bool Stopped, int StopIndex) Run(StopMatchState state, params string[] chunks)
    {
        var emitted = new List<byte>();
        bool stopped = false;
        foreach (string chunk in chunks)
        {
            stopped = state.Process(Encoding.UTF8.GetBytes(chunk), out ReadOnlySpan<byte> emit);
            emitted.AddRange(emit.ToArray());
            if (stopped) break;
        }
        if (!stopped) emitted.AddRange(state.Flush().ToArray());
        return (Encoding.UTF8.GetString([.. emitted]), stopped, state.StopIndex);
    }

    [Test]
    public async Task Stop_string_split_across_three_tokens_is_cut_exactly()
    {
        var state = new StopMatchState(new StopMatcher(["<END>"]));

        var result = Run(state, "Hello <", "EN", "D> never shown");

        await Assert.That(result).IsEqualTo(("Hello ", true, 0));
    }

    [Test]
    public async Task Possible_stop_prefix_is_held_back_until_disambiguated()
    {
        var state = new StopMatchState(new StopMatcher(["<END>"]));

        state.Process("abc <E"u8, out ReadOnlySpan<byte> first);
        string firstText = Encoding.UTF8.GetString(first);
        int held = state.HeldByteCount;
        state.Process("X"u8, out ReadOnlySpan<byte> second);
        string secondText = Encoding.UTF8.GetString(second);

        await Assert.That(firstText).IsEqualTo("abc ");
        await Assert.That(held).IsEqualTo(2);
        await Assert.That(secondText).IsEqualTo("<EX");
        await Assert.That(state.HeldByteCount).IsEqualTo(0);
    }

    [Test]
    public async Task Partial_stop_prefix_at_the_end_is_released_on_Flush()
    {
        var state = new StopMatchState(new StopMatcher(["<END>"]));

        bool stopped = state.Process("done <EN"u8, out ReadOnlySpan<byte> emit);
        string emitted = Encoding.UTF8.GetString(emit);
        string flushed = Encoding.UTF8.GetString(state.Flush());

        await Assert.That(stopped).IsFalse();
        await Assert.That(emitted).IsEqualTo("done ");
        await Assert.That(flushed).IsEqualTo("<EN");
    }

    [Test]
    [Arguments("ab|bc", "a,b,c", "", 0)]          // "ab" completes first
    [Arguments("bc|ab", "a,b,c", "", 1)]          // order in the list does not matter, position does
    [Arguments("bc|abd", "a,b,c", "a", 0)]        // held "ab" turns out to be the start of "bc"
    [Arguments("aab", "a,a,a,b", "a", 0)]         // the held prefix slides by one
    [Arguments("aab", "aaab", "a", 0)]
    [Arguments("abcabd", "abcab,cabd", "abc", 0)] // restart inside a failed partial match
    [Arguments("xyz|yz", "x,y,z", "", 0)]         // equal-end matches: the earlier start wins
    [Arguments("xyz|y", "x,y,z", "x", 1)]
    [Arguments("🙂!|é", "caf,é", "caf", 1)]       // multibyte stops
    [Arguments("éébé|éb", "ééb,é", "é", 1)]       // "éb" completes before the earlier-starting "éébé"
    [Arguments("éébé|éb", "éébé", "é", 1)]        // ... whatever the chunking
    [Arguments("🙂!", "a🙂,!b", "a", 0)]
    public async Task Overlapping_stops_cut_before_the_first_to_complete(string stops, string chunks, string expected, int stopIndex)
    {
        var state = new StopMatchState(new StopMatcher(stops.Split('|')));

        var result = Run(state, chunks.Split(','));

        await Assert.That(result).IsEqualTo((expected, true, stopIndex));
    }

    [Test]
    public async Task Input_after_a_stop_is_ignored()
    {
        var state = new StopMatchState(new StopMatcher(["stop"]));
        state.Process("a stop b"u8, out _);

        bool stopped = state.Process("more"u8, out ReadOnlySpan<byte> emit);
        int emitted = emit.Length;

        await Assert.That(stopped).IsTrue();
        await Assert.That(emitted).IsEqualTo(0);
        await Assert.That(state.Flush().Length).IsEqualTo(0);
    }

    [Test]
    public async Task Empty_stop_list_passes_text_straight_through()
    {
        var state = new StopMatchState(StopMatcher.None);
        byte[] text = "anything <END> at all"u8.ToArray();

        bool stopped = state.Process(text, out ReadOnlySpan<byte> emit);
        bool sameMemory = emit == text.AsSpan();

        await Assert.That(stopped).IsFalse();
        await Assert.That(sameMemory).IsTrue();
        await Assert.That(new StopMatcher(["", ""]).Count).IsEqualTo(0);
    }

    [Test]
    public async Task Reset_starts_a_new_request_with_other_stops()
    {
        var state = new StopMatchState(new StopMatcher(["x"]));
        Run(state, "ax");

        state.Reset(new StopMatcher(["a long stop string"]));
        var result = Run(state, "xx a long", " stop string");

        await Assert.That(result).IsEqualTo(("xx ", true, 0));
    }

    [Test]
    public async Task Random_chunking_matches_cutting_the_whole_text_at_the_earliest_stop()
    {
        var random = new Random(42);
        for (int trial = 0; trial < 2_000; trial++)
        {
            var stops = new string[random.Next(1, 4)];
            for (int i = 0; i < stops.Length; i++) stops[i] = RandomText(random, random.Next(1, 5));
            string text = RandomText(random, random.Next(0, 30));
            var chunks = new List<string>();
            for (int at = 0; at < text.Length;)
            {
                int length = Math.Min(random.Next(0, 5), text.Length - at);
                chunks.Add(text.Substring(at, length));
                at += length;
            }

            var result = Run(new StopMatchState(new StopMatcher(stops)), [.. chunks]);

            int cut = FirstCompletedStop(text, stops);
            string expected = cut >= 0 ? text[..cut] : text;
            await Assert.That(result.Text).IsEqualTo(expected).Because($"stops [{string.Join(",", stops)}] chunks [{string.Join(",", chunks)}]");
            await Assert.That(result.Stopped).IsEqualTo(cut >= 0);
        }
    }

    /// <summary>Reference: read the text one character at a time; the first stop that completes wins (longest on a tie).</summary>
    private static int FirstCompletedStop(string text, string[] stops)
    {
        for (int end = 1; end <= text.Length; end++)
        {
            int longest = stops.Where(s => text[..end].EndsWith(s, StringComparison.Ordinal)).Select(s => s.Length).DefaultIfEmpty(0).Max();
            if (longest > 0) return end - longest;
        }
        return -1;
    }

    // A small alphabet (with a two-byte letter) makes partial and overlapping matches common.
    private static string RandomText(Random random, int length)
    {
        const string alphabet = "abé";
        var chars = new char[length];
        for (int i = 0; i < length; i++) chars[i] = alphabet[random.Next(alphabet.Length)];
        return new string(chars);
    }

    [Test]
    public async Task Detokenized_stream_is_cut_before_a_stop_spanning_tokens()
    {
        var vocabulary = TokenVocabulary.Load(TokenizerFiles.WriteByteLevel(TokenizerFiles.NewTempDirectory()));
        var detokenizer = new IncrementalDetokenizer(vocabulary);
        var state = new StopMatchState(new StopMatcher(["€<"]));
        int[] tokens = [TokenizerFiles.SpaceHello, TokenizerFiles.EuroHead, 0xAC, TokenizerFiles.Stop, 'z'];

        var emitted = new List<byte>();
        bool stopped = false;
        foreach (int token in tokens)
        {
            detokenizer.Append(token, skipSpecial: true);
            stopped = state.Process(detokenizer.TakeCompleted(), out ReadOnlySpan<byte> emit);
            emitted.AddRange(emit.ToArray());
            if (stopped) break;
        }

        await Assert.That(stopped).IsTrue();
        await Assert.That(Encoding.UTF8.GetString([.. emitted])).IsEqualTo(" hello");
    }

    [Test]
    public async Task Process_does_not_allocate_in_steady_state()
    {
        var state = new StopMatchState(new StopMatcher(["<END>", "\n\nUser:", "🙂🙂"]));
        byte[][] chunks = [.. new[] { "Hello", " <", "EN", "x", "\n", "\nUs", "er", "🙂", " world" }.Select(Encoding.UTF8.GetBytes)];
        Run(state, chunks, 2_000);

        long allocated = Run(state, chunks, 20_000);

        await Assert.That(allocated).IsEqualTo(0L);
    }

    private static long Run(StopMatchState state, byte[][] chunks, int iterations)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long total = 0;
        for (int i = 0; i < iterations; i++)
        {
            if (state.Process(chunks[i % chunks.Length], out ReadOnlySpan<byte> emit) || i % 50 == 0)
            {
                total += state.Flush().Length;
                state.Reset();
            }
            total += emit.Length;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(total);
        return allocated;
    }
}
