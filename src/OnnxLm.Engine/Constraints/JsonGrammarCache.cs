using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Hashing;

namespace OnnxLm.Engine.Constraints;

/// <summary>
/// Compiled grammars by schema text (XxHash128 of the UTF-8 bytes, then a byte compare so a collision cannot hand out
/// the wrong grammar). Refusals are cached too, so a client resending a bad schema costs a lookup. Bounded: when full
/// it is cleared (schemas in use recompile on their next request). Every compile (a miss, refused or not) is timed into
/// <see cref="CompileTimes"/>. Thread-safe.
/// </summary>
public sealed class JsonGrammarCache(int capacity = 512, JsonSchemaCompilerOptions? options = null)
{
    private sealed record Entry(byte[] Schema, JsonGrammar? Grammar, SchemaNotSupportedException? Refusal);

    private readonly ConcurrentDictionary<UInt128, Entry> entries = new();
    private long hits;
    private long misses;

    public long Hits => Interlocked.Read(ref hits);

    public long Misses => Interlocked.Read(ref misses);

    /// <summary>Time of each compile (cache misses only), refusals included.</summary>
    public DurationHistogram CompileTimes { get; } =
        new([0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]);

    /// <summary>The grammar for <paramref name="utf8Schema"/>, compiled on first use; throws the cached refusal.</summary>
    public JsonGrammar GetOrCompile(ReadOnlySpan<byte> utf8Schema)
    {
        UInt128 hash = XxHash128.HashToUInt128(utf8Schema);
        if (entries.TryGetValue(hash, out Entry? entry) && entry.Schema.AsSpan().SequenceEqual(utf8Schema))
        {
            Interlocked.Increment(ref hits);
            return entry.Grammar ?? throw entry.Refusal!;
        }
        Interlocked.Increment(ref misses);
        byte[] schema = utf8Schema.ToArray();
        long start = Stopwatch.GetTimestamp();
        try
        {
            JsonGrammar grammar = JsonSchemaCompiler.Compile(schema, options);
            CompileTimes.Observe(Stopwatch.GetTimestamp() - start);
            Store(hash, new Entry(schema, grammar, null));
            return grammar;
        }
        catch (SchemaNotSupportedException refusal)
        {
            CompileTimes.Observe(Stopwatch.GetTimestamp() - start);
            Store(hash, new Entry(schema, null, refusal));
            throw;
        }
    }

    private void Store(UInt128 hash, Entry entry)
    {
        if (entries.Count >= capacity)
        {
            entries.Clear();
        }
        entries[hash] = entry;
    }
}
