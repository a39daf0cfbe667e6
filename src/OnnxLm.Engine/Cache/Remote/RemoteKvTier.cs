using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace OnnxLm.Engine.Cache.Remote;

/// <summary>
/// KV blocks shared between replicas through Redis: one key per block, <c>onnxlm:kv:v1:{fingerprint}:{chain hash}</c>,
/// whose value is exactly an SSD block file's bytes (<see cref="KvBlockCodec"/>).
/// <para>
/// Invariants. (1) Nothing is served unverified: a value is accepted only if its length, header (hash, parent, tokens,
/// fingerprint, layout) and payload checksum match; any other value is counted in <see cref="Rejects"/>, deleted and
/// ends the lookup like a miss. (2) The engine thread never touches the network: <see cref="TryEnqueueWrite"/> only
/// copies the block into a bounded queue (dropping the oldest entry when full) and a background writer sends
/// <c>SET NX EX</c>; <see cref="FetchChainAsync"/> runs on the thread pool. (3) A lookup ends by its deadline: a late
/// reply is abandoned (its bytes are never copied) and the prompt is recomputed. (4) An outage never fails a request:
/// connecting happens in the background (a replica starts with Redis down), commands fail fast while disconnected, a
/// <see cref="CircuitBreaker"/> skips the tier after repeated errors and lets one probe through after a cool-down, and
/// the client reconnects by itself. (5) Nothing throws to the caller.
/// </para>
/// </summary>
public sealed class RemoteKvTier : IDisposable
{
    readonly RemoteKvOptions options;
    readonly KvBlockCodec codec;
    readonly string keyPrefix;
    readonly int blockBytes, blockSize;
    readonly Action<string>? log;

    // The write queue: entries are reused; when every one is queued the oldest is dropped.
    readonly Lock gate = new();
    readonly Queue<RemoteWrite> queue = new();
    readonly Stack<RemoteWrite> free = new();
    int allocated, writing;
    readonly SemaphoreSlim signal = new(0);
    readonly CancellationTokenSource stop = new();
    readonly Task writer;
    volatile bool stopping;
    volatile ConnectionMultiplexer? connection;

    long gets, hits, misses, rejects, errors, late, skipped, blocksWritten, blocksExisting, writesDropped;

    public RemoteKvTier(RemoteKvOptions options)
    {
        this.options = options;
        codec = new KvBlockCodec(options.Layout, options.Fingerprint);
        keyPrefix = "onnxlm:kv:v1:" + options.Fingerprint.ToString("x32", CultureInfo.InvariantCulture) + ":";
        blockBytes = codec.BlockBytes;
        blockSize = options.Layout.BlockSize;
        log = options.Log;
        Breaker = new CircuitBreaker(options.BreakerThreshold, options.BreakerOpenFor, options.Time);
        Policy = new RemoteFetchPolicy { AlwaysFetch = options.AlwaysFetch };
        log?.Invoke($"remote KV tier: {options.Endpoint}, keys {keyPrefix}*, TTL {options.Ttl.TotalHours:0.##} h, lookup deadline {options.LookupDeadline.TotalMilliseconds:0} ms; connecting in the background");
        _ = ConnectAsync();
        writer = Task.Run(WriteLoopAsync);
    }

    public RedisEndpoint Endpoint => options.Endpoint;
    public CircuitBreaker Breaker { get; }
    public RemoteFetchPolicy Policy { get; }
    public bool Connected => connection?.IsConnected == true;

    /// <summary>Keys asked for by lookups.</summary>
    public long Gets => Interlocked.Read(ref gets);
    /// <summary>Blocks fetched and verified.</summary>
    public long Hits => Interlocked.Read(ref hits);
    /// <summary>Lookups that ended at a key Redis did not have.</summary>
    public long Misses => Interlocked.Read(ref misses);
    /// <summary>Values that failed verification (deleted, never served).</summary>
    public long Rejects => Interlocked.Read(ref rejects);
    /// <summary>Failed commands (lookups and writes): connection loss, timeouts, server errors.</summary>
    public long Errors => Interlocked.Read(ref errors);
    /// <summary>Lookups abandoned at their deadline.</summary>
    public long Late => Interlocked.Read(ref late);
    /// <summary>Lookups not sent: breaker open, not yet connected, or recomputing measured faster.</summary>
    public long Skipped => Interlocked.Read(ref skipped);
    public long BlocksWritten => Interlocked.Read(ref blocksWritten);
    /// <summary>Writes Redis refused because the key existed (another replica wrote the block first).</summary>
    public long BlocksExisting => Interlocked.Read(ref blocksExisting);
    /// <summary>Blocks not written: the queue was full (oldest dropped), the breaker was open, or not connected.</summary>
    public long WritesDropped => Interlocked.Read(ref writesDropped);

    /// <summary>The Redis key of block <paramref name="hash"/> of this model.</summary>
    public string Key(UInt128 hash) => keyPrefix + hash.ToString("x32", CultureInfo.InvariantCulture);

    async Task ConnectAsync()
    {
        var e = options.Endpoint;
        int timeout = (int)options.CommandTimeout.TotalMilliseconds;
        var config = new ConfigurationOptions
        {
            EndPoints = { { e.Host, e.Port } },
            Password = e.Password,
            DefaultDatabase = e.Database,
            AbortOnConnectFail = false,
            ConnectTimeout = timeout,
            SyncTimeout = timeout,
            AsyncTimeout = timeout,
            ConnectRetry = 1,
            KeepAlive = 5,
            ClientName = "onnxlm",
            // Commands fail at once while disconnected instead of queueing: a request never waits for a reconnect.
            BacklogPolicy = BacklogPolicy.FailFast,
            ReconnectRetryPolicy = new LinearRetry(500),
        };
        try
        {
            var mux = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
            mux.ConnectionFailed += (_, a) => log?.Invoke($"remote KV tier: connection to {options.Endpoint} lost ({a.FailureType}); reconnecting in the background");
            mux.ConnectionRestored += (_, _) => log?.Invoke($"remote KV tier: reconnected to {options.Endpoint}");
            if (stopping)
            {
                mux.Dispose();
                return;
            }
            connection = mux;
            log?.Invoke(mux.IsConnected
                ? $"remote KV tier: connected to {options.Endpoint}"
                : $"remote KV tier: {options.Endpoint} is unreachable; serving without it and reconnecting in the background");
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            log?.Invoke($"remote KV tier disabled: {ex.Message}");
        }
    }

    // ---- lookups (thread pool) ----

    /// <summary>
    /// Continues a prompt's hash chain from block <paramref name="startBlock"/> (whose parent has hash
    /// <paramref name="parentHash"/>) for at most <paramref name="hashes"/>.Length blocks: sends pipelined MGETs for them,
    /// takes the replies in order until the first miss or rejected value, and copies each verified block (pool layout)
    /// into consecutive <see cref="KvBlockLayout.BlockBytes"/> slices of <paramref name="destination"/>; the chain's hashes
    /// go to <paramref name="hashes"/>. Returns how many leading blocks were fetched. Never throws; ends by the deadline;
    /// nothing writes into <paramref name="destination"/> once the task has completed.
    /// </summary>
    public async Task<int> FetchChainAsync(ReadOnlyMemory<int> tokens, int startBlock, UInt128 parentHash, Memory<UInt128> hashes, Memory<byte> destination)
    {
        int n = Math.Min(hashes.Length, (tokens.Length / blockSize) - startBlock);
        if (n <= 0 || stopping) return 0;
        var mux = connection;
        long valueBytes = blockBytes + 1024L + 8L * blockSize;
        if (mux is null || !Policy.ShouldFetch(n, valueBytes, blockSize) || !Breaker.TryAcquire())
        {
            Interlocked.Increment(ref skipped);
            return 0;
        }
        long deadline = Stopwatch.GetTimestamp() + (long)(options.LookupDeadline.TotalSeconds * Stopwatch.Frequency);
        UInt128 parent = parentHash;
        for (int j = 0; j < n; j++)
        {
            parent = BlockHash.Chain(parent, tokens.Span.Slice((startBlock + j) * blockSize, blockSize), options.Fingerprint);
            hashes.Span[j] = parent;
        }

        int per = Math.Max(1, options.KeysPerRequest), batches = (n + per - 1) / per, found = 0;
        var replies = new Task<RedisValue[]>[batches];
        long sent = Stopwatch.GetTimestamp();
        try
        {
            var db = mux.GetDatabase(options.Endpoint.Database);
            for (int b = 0; b < batches; b++)
            {
                var keys = new RedisKey[Math.Min(per, n - b * per)];
                for (int i = 0; i < keys.Length; i++) keys[i] = Key(hashes.Span[b * per + i]);
                replies[b] = db.StringGetAsync(keys);
            }
            Interlocked.Add(ref gets, n);
            for (int b = 0; b < batches; b++)
            {
                long left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0 || !await Completes(replies[b], left).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref late);
                    Breaker.Failure();   // a tier that answers too late is as good as down
                    return found;
                }
                var values = await replies[b].ConfigureAwait(false);
                long bytes = 0;
                foreach (var v in values) bytes += v.IsNull ? 16 : (long)v.Length();
                Policy.ObserveReply(bytes, Stopwatch.GetElapsedTime(sent).TotalSeconds);
                sent = Stopwatch.GetTimestamp();
                for (int i = 0; i < values.Length; i++, found++)
                {
                    if (values[i].IsNull)
                    {
                        Interlocked.Increment(ref misses);
                        Breaker.Success();
                        return found;
                    }
                    UInt128 hash = hashes.Span[found], blockParent = found == 0 ? parentHash : hashes.Span[found - 1];
                    var blockTokens = tokens.Span.Slice((startBlock + found) * blockSize, blockSize);
                    if (!codec.TryDecode(((ReadOnlyMemory<byte>)values[i]).Span, hash, blockParent, blockTokens, destination.Span.Slice(found * blockBytes, blockBytes)))
                    {
                        Interlocked.Increment(ref rejects);
                        _ = db.KeyDeleteAsync(Key(hash), CommandFlags.FireAndForget);
                        Breaker.Success();
                        return found;
                    }
                    Interlocked.Increment(ref hits);
                }
            }
            Breaker.Success();
            return found;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            Interlocked.Increment(ref errors);
            Breaker.Failure();
            return found;
        }
        finally
        {
            // Replies not awaited (a miss, a rejection, the deadline) may still fail: observe them so nothing goes unobserved.
            foreach (var r in replies)
                if (r is { IsCompleted: false }) _ = r.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    static async Task<bool> Completes(Task task, long ticksLeft)
    {
        if (task.IsCompleted) return true;
        var delay = TimeSpan.FromSeconds((double)ticksLeft / Stopwatch.Frequency);
        return await Task.WhenAny(task, Task.Delay(delay)).ConfigureAwait(false) == task;
    }

    // ---- writes ----

    /// <summary>
    /// Queues a committed block for Redis (any thread; never blocks on I/O): copies <paramref name="poolBytes"/> into a
    /// queue entry; when every entry is queued the oldest is dropped and counted. False when the tier is not writing
    /// (stopping, breaker open and cooling down, not connected). After the cool-down a write may be the breaker's probe:
    /// a replica whose lookups are all skipped (recomputing measures faster) still finds out that Redis is back.
    /// </summary>
    public bool TryEnqueueWrite(UInt128 hash, UInt128 parentHash, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> poolBytes)
    {
        if (stopping) return false;
        if (connection is null || !Breaker.MayAcquire)
        {
            Interlocked.Increment(ref writesDropped);
            return false;
        }
        if (tokens.Length != blockSize || poolBytes.Length != blockBytes)
            throw new ArgumentException($"a block is {blockSize} tokens and {blockBytes} bytes; got {tokens.Length} and {poolBytes.Length}");
        RemoteWrite? entry = null;
        lock (gate)
        {
            if (!free.TryPop(out entry))
            {
                if (allocated < options.WriteQueueDepth) allocated++;
                else
                {
                    entry = queue.Dequeue();
                    writesDropped++;
                }
            }
        }
        entry ??= new RemoteWrite(options.Layout);
        entry.Hash = hash;
        entry.Parent = parentHash;
        tokens.CopyTo(entry.Tokens);
        KvBlockFile.ToFileOrder(options.Layout, poolBytes, entry.Payload);
        lock (gate) queue.Enqueue(entry);
        signal.Release();
        return true;
    }

    async Task WriteLoopAsync()
    {
        byte[] value = [];
        while (!stopping)
        {
            try
            {
                await signal.WaitAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            while (!stopping && TryDequeue(out var entry))
            {
                RedisKey key = Key(entry.Hash);
                int length;
                try
                {
                    var header = codec.Header(entry.Hash, entry.Parent, entry.Tokens, entry.Payload);
                    length = header.Length + entry.Payload.Length;
                    if (value.Length < length) value = GC.AllocateUninitializedArray<byte>(length);
                    header.CopyTo(value);
                    entry.Payload.CopyTo(value.AsSpan(header.Length));
                }
                finally
                {
                    lock (gate) free.Push(entry);
                }
                await WriteAsync(key, value.AsMemory(0, length)).ConfigureAwait(false);
                Volatile.Write(ref writing, 0);
            }
        }
    }

    async Task WriteAsync(RedisKey key, ReadOnlyMemory<byte> value)
    {
        var mux = connection;
        if (mux is null || !Breaker.TryAcquire())
        {
            Interlocked.Increment(ref writesDropped);
            return;
        }
        try
        {
            bool set = await mux.GetDatabase(options.Endpoint.Database).StringSetAsync(key, value, options.Ttl, When.NotExists).ConfigureAwait(false);
            Interlocked.Increment(ref set ? ref blocksWritten : ref blocksExisting);
            Breaker.Success();
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            Interlocked.Increment(ref errors);
            Interlocked.Increment(ref writesDropped);
            Breaker.Failure();
        }
    }

    bool TryDequeue(out RemoteWrite entry)
    {
        lock (gate)
        {
            if (!queue.TryDequeue(out entry!)) return false;
            writing = 1;   // under the lock: WaitForWrites never sees an empty queue before the write it held started
            return true;
        }
    }

    /// <summary>Test hook: waits until the queue is empty and the writer idle; false on timeout.</summary>
    internal bool WaitForWrites(TimeSpan timeout)
    {
        long end = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            lock (gate) if (queue.Count == 0 && Volatile.Read(ref writing) == 0) return true;
            if (Environment.TickCount64 > end) return false;
            Thread.Sleep(1);
        }
    }

    /// <summary>Stops the writer (queued blocks are dropped: they are a cache) and closes the connection.</summary>
    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        stop.Cancel();
        try
        {
            writer.Wait(options.CommandTimeout);
        }
        catch (AggregateException)
        {
        }
        connection?.Dispose();
        codec.Dispose();
    }

    /// <summary>One queued block: its identity and payload in file order.</summary>
    sealed class RemoteWrite(KvBlockLayout layout)
    {
        public UInt128 Hash, Parent;
        public readonly int[] Tokens = new int[layout.BlockSize];
        public readonly byte[] Payload = GC.AllocateUninitializedArray<byte>(checked((int)layout.BlockBytes));
    }
}
