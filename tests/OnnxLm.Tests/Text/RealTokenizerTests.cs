using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Text;

/// <summary>
/// The detokenizer against Hugging Face's own JavaScript decode (<c>@huggingface/tokenizers</c>, run by
/// <c>tests/node/tokenizer-reference.mjs</c>) on the real tokenizer files of the families users run: every id alone, and
/// 1,000 seeded random id sequences streamed token by token (take after every token, flush at the end).
/// <para>Where the reference and HF's Python library (the Rust <c>tokenizers</c> crate) disagree, the server follows
/// the Rust crate and the test says so:</para>
/// <list type="bullet">
/// <item><c>Metaspace</c>: Rust drops every replacement character of the first token (prepend scheme other than
/// <c>never</c>); the JavaScript decoder strips one leading space. They agree unless the first token holds a ▁ other than
/// one leading one; for those the expectation is Rust's rule for the first token and the reference for the rest.</item>
/// <item><c>ByteLevel</c> added tokens: Rust maps them through the byte alphabet like any token, the JavaScript decoder
/// keeps them literal. Identical for every added token of these families (all ASCII, or holding characters outside the
/// alphabet, which Rust also keeps literal), so the comparison below covers it.</item>
/// </list>
/// <para>Where they disagree and streaming cannot follow Rust, the server follows the reference: an invalid UTF-8 run of
/// byte-fallback tokens becomes one U+FFFD per maximal invalid subpart (as the reference's TextDecoder and Python's
/// <c>errors="replace"</c> do), where Rust's <c>ByteFallback</c> turns every byte of such a run into U+FFFD, which would
/// retract text already streamed. <c>clean_up_tokenization_spaces</c> (a transformers text heuristic that rewrites
/// " ." to ".", set by the Llama 3 configs) is not applied, by the server or the reference run: it is not part of the
/// tokenizer's decoder and it corrupts generated code; vLLM does not apply it either.</para>
/// </summary>
public class RealTokenizerTests
{
    private const int SequenceCount = 1_000;
    private const string MetaspaceFamily = "metaspace:llama-2-no-chat-template";
    private const string MetaspaceDecoder = """{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}""";

    private static readonly ConcurrentDictionary<string, Lazy<Task<FamilyRun>>> Runs = new();

    [Test]
    [Arguments("qwen2.5-1.5b-instruct", 151_665)]
    [Arguments("llama-3.2-instruct", 128_256)]
    [Arguments("phi-3-mini-4k-instruct", 32_011)]
    [Arguments("phi-3-mini-4k-instruct/legacy-2024", 32_011)]
    [Arguments("gemma-3-1b-it", 262_145)]
    [Arguments("llama-2-no-chat-template", 32_000)]
    [Arguments("npm:qwen3", 151_669)]
    [Arguments("npm:llama3_1", 128_256)]
    [Arguments("npm:deepseek_v3", 128_815)]
    [Arguments("npm:llama2", 32_000)]
    [Arguments(MetaspaceFamily, 32_000)]
    public async Task Every_id_decodes_as_hugging_face_decodes_it(string family, int idCount)
    {
        FamilyRun run = await RunAsync(family);
        var detokenizer = new IncrementalDetokenizer(run.Vocabulary);
        var mismatches = new List<string>();
        int differentBytes = 0;
        for (int id = 0; id < idCount; id++)
        {
            // A lone id that is part of a UTF-8 character (a byte-fallback token, a partial byte-level token) decodes to
            // U+FFFD on both sides, so its text says little about its bytes; the random sequences below join such ids into
            // characters and check the bytes through the text they complete.
            string ours = Stream(detokenizer, [id], out _);
            string expected = run.ExpectedSingle(id);
            if (ours != expected)
            {
                mismatches.Add($"id {id} {Show(run.Raw.Tokens[id])}: ours {Show(ours)}, HF {Show(expected)}");
            }
            if (!run.Vocabulary.GetBytes(id).SequenceEqual(Encoding.UTF8.GetBytes(run.Reference.Singles[id])))
            {
                differentBytes++;
            }
        }

        // Byte-exact for the ids that are part of a character: each is completed with byte tokens into valid text as our
        // table spells it; a wrong byte makes the reference decode a different character or U+FFFD.
        foreach ((int id, int[] sequence, int index) in run.Completions)
        {
            string ours = Stream(detokenizer, sequence, out _);
            if (ours != run.Reference.Sequences[index] || ours.Contains('\uFFFD'))
            {
                mismatches.Add($"id {id} completed as [{string.Join(",", sequence)}]: ours {Show(ours)}, HF {Show(run.Reference.Sequences[index])}");
            }
        }

        Console.WriteLine($"{family}: {idCount} ids compared, {run.DivergentSingles} by Rust's Metaspace first-token rule; " +
            $"{differentBytes} ids whose own bytes are not their lone decode (fragments, skipped specials, stripped space); " +
            $"{run.Completions.Count} partial-character ids compared byte-exact, {run.Uncompletable} that no valid text can hold");
        await Assert.That(run.Vocabulary.Count).IsEqualTo(idCount);
        await Assert.That(Report(mismatches)).IsEqualTo("");
        if (family != MetaspaceFamily)
        {
            // Every family here has byte tokens and partial-character ids: the byte-exact comparison must have run.
            await Assert.That(run.Completions.Count).IsGreaterThan(100);
        }
    }

    [Test]
    [Arguments("qwen2.5-1.5b-instruct")]
    [Arguments("llama-3.2-instruct")]
    [Arguments("phi-3-mini-4k-instruct")]
    [Arguments("phi-3-mini-4k-instruct/legacy-2024")]
    [Arguments("gemma-3-1b-it")]
    [Arguments("llama-2-no-chat-template")]
    [Arguments("npm:qwen3")]
    [Arguments("npm:llama3_1")]
    [Arguments("npm:deepseek_v3")]
    [Arguments("npm:llama2")]
    [Arguments(MetaspaceFamily)]
    public async Task Random_id_sequences_stream_as_hugging_face_decodes_them(string family)
    {
        FamilyRun run = await RunAsync(family);
        var detokenizer = new IncrementalDetokenizer(run.Vocabulary, initialCapacity: 4);
        var mismatches = new List<string>();
        int invalidPieces = 0, replaced = 0, tokens = 0;
        for (int i = 0; i < SequenceCount; i++)
        {
            int[] ids = run.Sequences[i];
            tokens += ids.Length;
            string ours = Stream(detokenizer, ids, out int invalid);
            invalidPieces += invalid;
            string expected = run.ExpectedSequence(i);
            replaced += expected.Contains('\uFFFD') ? 1 : 0;
            if (ours != expected)
            {
                mismatches.Add($"[{string.Join(",", ids)}]: ours {Show(ours)}, HF {Show(expected)}");
            }
        }

        Console.WriteLine($"{family}: {SequenceCount} sequences ({tokens} tokens) compared, {replaced} with U+FFFD, " +
            $"{run.SpelledCharacters} characters spelled in byte tokens, {run.DivergentSequences} by Rust's Metaspace first-token rule");
        await Assert.That(invalidPieces).IsEqualTo(0);
        await Assert.That(run.SpelledCharacters).IsGreaterThan(0);
        await Assert.That(Report(mismatches)).IsEqualTo("");
        if (family == MetaspaceFamily)
        {
            // The Rust-rule expectation must actually be exercised, or the Metaspace comparison proves less than it says.
            await Assert.That(run.DivergentSequences).IsGreaterThan(0);
            await Assert.That(run.DivergentSingles).IsGreaterThan(0);
        }
    }

    [Test]
    public async Task Gemma_added_runs_of_the_word_marker_decode_as_spaces()
    {
        string folder = await RealTokenizers.FolderAsync("gemma-3-1b-it");
        var vocabulary = TokenVocabulary.Load(Path.Combine(folder, "tokenizer.json"));
        var detokenizer = new IncrementalDetokenizer(vocabulary);

        // Ids 138..167 are the added, non-special tokens "▁▁" .. 31 × "▁".
        for (int id = 138; id <= 167; id++)
        {
            await Assert.That(vocabulary.IsSpecial(id)).IsFalse();
            await Assert.That(Stream(detokenizer, [id], out _)).IsEqualTo(new string(' ', id - 136));
        }
        int startOfTurn = vocabulary.FindToken("<start_of_turn>")!.Value;
        await Assert.That(Stream(detokenizer, [startOfTurn, 140, vocabulary.FindToken("<start_of_image>")!.Value, 138], out _)).IsEqualTo("      ");
    }

    /// <summary>Streams <paramref name="ids"/> like the server does and returns the text; counts pieces that are not whole UTF-8.</summary>
    private static string Stream(IncrementalDetokenizer detokenizer, int[] ids, out int invalidPieces)
    {
        detokenizer.Reset();
        invalidPieces = 0;
        var text = new List<byte>();
        foreach (int id in ids)
        {
            detokenizer.Append(id, skipSpecial: true);
            ReadOnlySpan<byte> piece = detokenizer.TakeCompleted();
            invalidPieces += Utf8.IsValid(piece) ? 0 : 1;
            text.AddRange(piece);
        }
        ReadOnlySpan<byte> last = detokenizer.Flush();
        invalidPieces += Utf8.IsValid(last) ? 0 : 1;
        text.AddRange(last);
        return Encoding.UTF8.GetString([.. text]);
    }

    private static string Show(string? text) => text is null ? "null" : System.Text.Json.JsonSerializer.Serialize(text, TextJson.Default.String);

    private static string Report(List<string> mismatches) =>
        mismatches.Count == 0 ? "" : $"{mismatches.Count} differ, first ones:\n" + string.Join("\n", mismatches.Take(15));

    private static Task<FamilyRun> RunAsync(string family) =>
        Runs.GetOrAdd(family, f => new Lazy<Task<FamilyRun>>(() => FamilyRun.CreateAsync(f))).Value;

    /// <summary>One family's vocabulary, random sequences and reference decodes, shared by both tests.</summary>
    private sealed class FamilyRun
    {
        private readonly int[] firstTokenRuleSequence; // per sequence: index of its Rust-rule helper sequence, or -1
        private readonly string sentinel = "";

        private FamilyRun(TokenVocabulary vocabulary, RawTokenizerFile raw, int[][] sequences, TokenizerReference reference,
            bool metaspace, int[] firstTokenRuleSequence, string sentinel)
        {
            Vocabulary = vocabulary;
            Raw = raw;
            Sequences = sequences;
            Reference = reference;
            Metaspace = metaspace;
            this.firstTokenRuleSequence = firstTokenRuleSequence;
            this.sentinel = sentinel;
            DivergentSequences = firstTokenRuleSequence.Count(i => i >= 0);
            DivergentSingles = Enumerable.Range(0, vocabulary.Count).Count(id => metaspace && !raw.Special[id] && DivergesOnMetaspace(raw.Tokens[id]));
        }

        public TokenVocabulary Vocabulary { get; }
        public RawTokenizerFile Raw { get; }
        public int[][] Sequences { get; }
        public TokenizerReference Reference { get; }
        public bool Metaspace { get; }
        public int DivergentSequences { get; }
        public int DivergentSingles { get; }
        public int SpelledCharacters { get; init; }
        public List<(int Id, int[] Sequence, int Index)> Completions { get; init; } = [];
        public int Uncompletable { get; init; }

        public string ExpectedSingle(int id) =>
            Metaspace && !Raw.Special[id] && DivergesOnMetaspace(Raw.Tokens[id])
                ? RustFirstToken(Raw.Tokens[id]!)
                : Reference.Singles[id];

        public string ExpectedSequence(int i)
        {
            int helper = firstTokenRuleSequence[i];
            if (helper < 0)
            {
                return Reference.Sequences[i];
            }
            // Rust's rule for the first token, then the reference's decode of the rest as non-first tokens (decoded
            // behind a sentinel token without ▁, whose text is cut off again).
            int first = Array.FindIndex(Sequences[i], id => !Raw.Special[id]);
            string rest = Reference.Sequences[helper];
            return RustFirstToken(Raw.Tokens[Sequences[i][first]]!) + rest[sentinel.Length..];
        }

        // HF tokenizers' Metaspace::decode_chain (prepend scheme "first"/"always"): in the first token, every ▁ is dropped.
        private static string RustFirstToken(string token) => token.Replace("▁", "", StringComparison.Ordinal);

        // The JavaScript decoder turns every ▁ into a space and then strips one leading space, a literal one included.
        private static string JavaScriptFirstToken(string token)
        {
            string spaced = token.Replace('▁', ' ');
            return spaced.StartsWith(' ') ? spaced[1..] : spaced;
        }

        private static bool DivergesOnMetaspace(string? token) => token is not null && RustFirstToken(token) != JavaScriptFirstToken(token);

        public static async Task<FamilyRun> CreateAsync(string family)
        {
            bool metaspace = family == MetaspaceFamily;
            string folder = metaspace ? await WriteMetaspaceVariantAsync(family["metaspace:".Length..]) : await RealTokenizers.FolderAsync(family);
            string path = Path.Combine(folder, "tokenizer.json");
            var vocabulary = TokenVocabulary.Load(path);
            var raw = RawTokenizerFile.Load(path);
            int[][] sequences = RandomSequences(vocabulary, raw, seed: 20_261_206, out int spelled);

            var all = new List<int[]>(sequences);
            var helpers = new int[sequences.Length];
            Array.Fill(helpers, -1);
            string sentinelText = "";
            if (metaspace)
            {
                int sentinel = Array.FindIndex(raw.Tokens, t => t is ['a']);
                sentinelText = raw.Tokens[sentinel]!;
                for (int i = 0; i < sequences.Length; i++)
                {
                    int first = Array.FindIndex(sequences[i], id => !raw.Special[id]);
                    if (first >= 0 && DivergesOnMetaspace(raw.Tokens[sequences[i][first]]))
                    {
                        helpers[i] = all.Count;
                        all.Add([sentinel, .. sequences[i][(first + 1)..]]);
                    }
                }
            }
            var completions = new List<(int, int[], int)>();
            int uncompletable = 0;
            int[] byteTokens = ByteTokens(raw);
            if (byteTokens.All(id => id >= 0) && Enumerable.Range(0, 256).All(b => vocabulary.GetBytes(byteTokens[b]).SequenceEqual([(byte)b])))
            {
                for (int id = 0; id < vocabulary.Count; id++)
                {
                    byte[] bytes = vocabulary.GetBytes(id).ToArray();
                    if (raw.Special[id] || Utf8.IsValid(bytes)) continue;
                    if (TryCompleteCharacters(bytes, out byte[] prefix, out byte[] suffix))
                    {
                        completions.Add((id, [.. prefix.Select(b => byteTokens[b]), id, .. suffix.Select(b => byteTokens[b])], all.Count));
                        all.Add(completions[^1].Item2);
                    }
                    else
                    {
                        uncompletable++;
                    }
                }
            }
            TokenizerReference reference = await TokenizerReference.DecodeAsync(folder, vocabulary.Count, all);
            if (metaspace)
            {
                Directory.Delete(folder, recursive: true); // the derived file: everything needed is loaded now
            }
            return new FamilyRun(vocabulary, raw, sequences, reference, metaspace, helpers, sentinelText)
            {
                SpelledCharacters = spelled,
                Completions = completions,
                Uncompletable = uncompletable,
            };
        }

        /// <summary>
        /// Seeded sequences of 1–40 ids, mixing ordinary ids with the ones decoders treat specially: partial UTF-8
        /// (byte-fallback bytes, partial byte-level tokens), added tokens, special tokens, and tokens that start with a
        /// space or ▁, runs of blanks (Gemma's added ▁ runs; the first-token rules), and whole characters spelled in byte
        /// tokens (so byte joins are checked on valid text, not only on U+FFFD).
        /// </summary>
        private static int[][] RandomSequences(TokenVocabulary vocabulary, RawTokenizerFile raw, int seed, out int spelled)
        {
            var fragments = new List<int>();
            var spaced = new List<int>();
            var blanks = new List<int>();
            var specials = new List<int>();
            for (int id = 0; id < vocabulary.Count; id++)
            {
                ReadOnlySpan<byte> bytes = vocabulary.GetBytes(id);
                string? token = raw.Tokens[id];
                if (!Utf8.IsValid(bytes) || token is { Length: 6 } && token.StartsWith("<0x", StringComparison.Ordinal)) fragments.Add(id);
                if (bytes.Length > 0 && bytes[0] == ' ' || token is not null && token.Contains('▁')) spaced.Add(id);
                if (token is { Length: > 0 } && token.All(c => c is '▁' or ' ')) blanks.Add(id);
                if (raw.Special[id]) specials.Add(id);
            }
            int[] byteTokens = ByteTokens(raw);
            spelled = 0;
            string[] characters = ["é", "€", "中", "🙂", "ß", "Ω", "𝄞", "ñ", "—"];
            var random = new Random(seed);
            var sequences = new int[SequenceCount][];
            var ids = new List<int>();
            for (int i = 0; i < sequences.Length; i++)
            {
                ids.Clear();
                int length = random.Next(1, 41);
                // Half the sequences hold lone partial characters (and so U+FFFD almost surely); half only whole ones.
                bool broken = random.Next(2) == 0;
                while (ids.Count < length)
                {
                    double r = random.NextDouble();
                    if (r < 0.08 && byteTokens.All(id => id >= 0))
                    {
                        // A whole character spelled in byte tokens, the way a model writes text outside its vocabulary.
                        foreach (byte b in Encoding.UTF8.GetBytes(characters[random.Next(characters.Length)])) ids.Add(byteTokens[b]);
                        spelled++;
                        continue;
                    }
                    ids.Add(r switch
                    {
                        < 0.38 => random.Next(vocabulary.Count),
                        < 0.58 when broken && fragments.Count > 0 => fragments[random.Next(fragments.Count)],
                        < 0.70 => raw.AddedIds[random.Next(raw.AddedIds.Length)],
                        < 0.80 when specials.Count > 0 => specials[random.Next(specials.Count)],
                        < 0.89 when blanks.Count > 0 => blanks[random.Next(blanks.Count)],
                        _ when spaced.Count > 0 => spaced[random.Next(spaced.Count)],
                        _ => random.Next(vocabulary.Count),
                    });
                }
                sequences[i] = [.. ids];
            }
            return sequences;
        }

        /// <summary>
        /// Bytes to put around a token's bytes so that the whole is valid UTF-8: a lead byte before leading continuation
        /// bytes, continuation bytes after an unfinished character. False for bytes no valid text holds (C0, F5, …).
        /// </summary>
        private static bool TryCompleteCharacters(byte[] bytes, out byte[] prefix, out byte[] suffix)
        {
            int continuations = 0;
            while (continuations < bytes.Length && (bytes[continuations] & 0xC0) == 0x80) continuations++;
            // C2, E1 and F1 accept any continuation byte after them.
            prefix = continuations switch { 0 => [], 1 => [0xC2], 2 => [0xE1], 3 => [0xF1], _ => [] };
            suffix = [];
            if (continuations > 3) return false;
            byte[] body = [.. prefix, .. bytes];
            byte[] candidates = [0x80, 0x90, 0xA0, 0xBF];
            for (int length = 0; length <= 3; length++)
            {
                int combinations = 1 << (2 * length);
                for (int c = 0; c < combinations; c++)
                {
                    var tail = new byte[length];
                    for (int i = 0; i < length; i++) tail[i] = candidates[(c >> (2 * i)) & 3];
                    if (Utf8.IsValid([.. body, .. tail]))
                    {
                        suffix = tail;
                        return true;
                    }
                }
            }
            return false;
        }

        /// <summary>The id that stands for each byte: SentencePiece's <c>&lt;0xNN&gt;</c>, else byte-level's one-character token.</summary>
        private static int[] ByteTokens(RawTokenizerFile raw)
        {
            var ids = new int[256];
            Array.Fill(ids, -1);
            bool byteFallback = raw.Tokens.Any(t => t is "<0x41>");
            for (int id = 0; id < raw.Tokens.Length; id++)
            {
                string? token = raw.Tokens[id];
                if (byteFallback && token is { Length: 6 } && token.StartsWith("<0x", StringComparison.Ordinal)
                    && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value))
                {
                    ids[value] = id;
                }
            }
            if (!byteFallback)
            {
                var single = new Dictionary<string, int>();
                for (int id = 0; id < raw.Tokens.Length; id++)
                {
                    if (raw.Tokens[id] is { Length: 1 } token) single.TryAdd(token, id);
                }
                for (int b = 0; b < 256; b++)
                {
                    ids[b] = single.GetValueOrDefault(TokenizerFiles.ToGpt2String([(byte)b]), -1);
                }
            }
            return ids;
        }

        /// <summary>Llama-2's real vocabulary with the decoder newer SentencePiece exports write: Metaspace.</summary>
        private static async Task<string> WriteMetaspaceVariantAsync(string baseFamily)
        {
            string source = await RealTokenizers.FolderAsync(baseFamily);
            JsonNode root = JsonNode.Parse(await File.ReadAllBytesAsync(Path.Combine(source, "tokenizer.json")),
                documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 256 })!;
            root["decoder"] = JsonNode.Parse(MetaspaceDecoder);
            string folder = TokenizerFiles.NewTempDirectory();
            await File.WriteAllTextAsync(Path.Combine(folder, "tokenizer.json"), root.ToJsonString());
            File.Copy(Path.Combine(source, "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));
            return folder;
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class TextJson : System.Text.Json.Serialization.JsonSerializerContext;
