using System.Globalization;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// Persistent, crash-safe KV block store on disk, under <c>{root}/{fingerprint hex}/</c>: one safetensors file per block
/// (<see cref="KvBlockFile"/>, encoded by <see cref="KvBlockCodec"/>, read by <see cref="SsdBlockReader"/>) at
/// <c>{h[0..2]}/{h[2]}/{hash}-{parent}.safetensors</c> (<see cref="SsdBlockPaths"/>; 4,096 leaf directories: ~25 files
/// each at 100k blocks, ~2,500 at 10M).
/// <para>
/// Invariants. (1) A file under its final name is complete: it is written under <c>tmp/</c>, fsync'd and renamed; files
/// left in <c>tmp/</c> by a crash are deleted at start. (2) Nothing is served unverified: a read checks the length, the
/// header (hash, parent, tokens, fingerprint, layout, version) and the payload's XxHash128; a failure deletes the file,
/// counts it in <see cref="CorruptBlocks"/> and is a miss. (3) The engine thread never waits on the disk:
/// <see cref="TryEnqueueWrite"/> copies the block into one of a bounded set of pooled buffers or drops it, and one
/// background thread writes, prunes (TTL, then LRU down to 90 % of the byte cap) and saves the index. (4) One writer per
/// directory: the process holding the <c>lock</c> file writes; another opens the tier read-only. (5) Nothing throws to
/// the caller: an unusable directory disables the tier with one logged line, a failed write stops writing with one.
/// </para>
/// <para>
/// One file per block, measured (<c>SsdKvTierMeasurements</c>: 1,000 blocks of 393,216 bytes — 12 layers, 4 KV heads,
/// head 64, fp32, block 16 — on this machine's shared virtio disk, two runs): one file per block with fsync wrote
/// 38–114 MB/s (97–291 files/s), runs of 16 blocks per file 93–174 MB/s, one file per block without fsync 278 MB/s;
/// cold reads with verification 315–669 MB/s sequential, 916–1,000 MB/s with 64 in parallel. Runs would only amortize
/// the fsync (1.5–2.4×) while tying every block's lifetime (LRU, TTL, deletion of a corrupt block) to its run's and
/// losing a whole run to one torn write; per-block files keep eviction, verification and deletion exact, the writer is
/// off the engine thread (~100 µs per enqueue on the caller). Whether 100–300 blocks/s (1,600–4,700 tokens/s of KV)
/// keeps up with evictions under load is for the engine benchmark to confirm; a full queue only drops blocks.
/// </para>
/// <para>
/// Index (<see cref="SsdBlockIndex"/>): hash → (parent, size, last use) in memory, saved to <c>index.bin</c> periodically
/// and at shutdown. A <c>dirty</c> marker exists while a writer runs; at start a missing, invalid or dirty index is
/// reconciled by scanning the directory in the background (file names carry hash and parent, so the scan opens no
/// file). Measured with 100,000 files: a clean index loads in 76 ms; with no index the constructor returns in 1 ms and
/// the background scan completes the index in 1.8 s; a dirty index loads in 39 ms and its scan finishes after 1.4 s.
/// </para>
/// </summary>
public sealed class SsdKvTier : IDisposable
{
    const string IndexName = SsdTierDirectory.IndexName, DirtyName = SsdTierDirectory.DirtyName, TempName = SsdTierDirectory.TempName;

    readonly ISsdFileSystem fs;
    readonly SsdTierOptions options;
    readonly KvBlockLayout layout;
    readonly KvBlockCodec codec;
    readonly UInt128 fingerprint;
    readonly TimeProvider time;
    readonly Action<string>? log;
    readonly int blockBytes;

    readonly SsdBlockIndex index = new();

    // Guarded by gate: the write queue and its buffer pool. A written block enters the index before it leaves
    // `queued`, so a block is always in one or the other until it is pruned.
    readonly Lock gate = new();
    readonly HashSet<UInt128> queued = [];
    readonly Queue<SsdWriteBuffer> writeQueue = new();
    readonly Stack<SsdWriteBuffer> freeBuffers = new();
    int buffersAllocated;

    readonly IDisposable? lockHandle;
    readonly Thread? worker;
    readonly SemaphoreSlim signal = new(0);
    readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly bool scanAtStart;
    volatile bool stopping, writingStopped;
    TaskCompletionSource? maintenanceRequest;
    int pendingWrites;

    // Worker-thread state (and the codec's header buffer).
    readonly bool[] leafCreated = new bool[4096];
    byte[] indexBuffer = [];

    long blocksWritten, bytesWritten, blocksRead, bytesRead, corruptBlocks, writesDropped, prunedBlocks, lookups, lookupHits;

    public SsdKvTier(SsdTierOptions options) : this(options, PhysicalSsdFileSystem.Instance) { }

    internal SsdKvTier(SsdTierOptions options, ISsdFileSystem fileSystem)
    {
        fs = fileSystem;
        this.options = options;
        layout = options.Layout;
        fingerprint = options.Fingerprint;
        codec = new KvBlockCodec(layout, fingerprint);
        time = options.Time;
        log = options.Log;
        blockBytes = checked((int)layout.BlockBytes);
        Directory = Path.Combine(options.Directory, fingerprint.ToString("x32", CultureInfo.InvariantCulture));
        MaxBytes = options.MaxBytes ?? 0;

        var opened = SsdTierDirectory.Open(fs, Directory);
        if (opened.Mode == SsdTierMode.Disabled)
        {
            Disable(opened.Reason);
            return;
        }
        lockHandle = opened.Lock;
        bool dirtyBefore = opened.DirtyBefore;
        Mode = opened.Mode;
        ModeReason = opened.Reason;

        bool loaded;
        try
        {
            loaded = index.TryLoad(fs, Path.Combine(Directory, IndexName), fingerprint);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            loaded = false;
        }
        long totalBytes = index.TotalBytes;
        // A read-only instance always rescans: the writer that owns the directory may have added files since its last save.
        scanAtStart = !loaded || dirtyBefore || Mode == SsdTierMode.ReadOnly;

        if (options.MaxBytes is null)
        {
            long free = fs.AvailableFreeSpace(Directory);
            MaxBytes = free < 0 ? 16L << 30 : Math.Max((free + totalBytes) / 4, 64L << 20);
        }
        string capSource = options.MaxBytes is null ? " (a quarter of the free disk space)" : "";
        string modeText = Mode == SsdTierMode.ReadWrite ? "read-write" : $"read-only: {ModeReason}";
        Log($"SSD KV tier at {Directory}, {modeText}; {index.Count} blocks ({totalBytes} bytes) from the index{(loaded ? "" : " (none: scanning)")}, max {MaxBytes} bytes{capSource}, TTL {options.Ttl.TotalDays:0.##} days");

        worker = new Thread(Run) { IsBackground = true, Name = "onnxlm ssd kv", Priority = ThreadPriority.BelowNormal };
        worker.Start();
    }

    // ---- state and metrics ----

    /// <summary>The platform's cache directory for KV blocks: macOS <c>~/Library/Caches/onnxlm/kv</c>, Linux
    /// <c>$XDG_CACHE_HOME/onnxlm/kv</c> or <c>~/.cache/onnxlm/kv</c>, Windows <c>%LOCALAPPDATA%\onnxlm\kv</c>.</summary>
    public static string DefaultDirectory()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsMacOS()) return Path.Combine(home, "Library", "Caches", "onnxlm", "kv");
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "onnxlm", "kv");
        // XDG: a relative $XDG_CACHE_HOME is invalid and must be ignored.
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg) ? xdg : Path.Combine(home, ".cache");
        return Path.Combine(root, "onnxlm", "kv");
    }

    /// <summary>The fingerprint's directory (<c>{root}/{fingerprint hex}</c>).</summary>
    public string Directory { get; }
    public SsdTierMode Mode { get; private set; }
    /// <summary>Why the tier is in its <see cref="Mode"/> (for the startup log and /metrics).</summary>
    public string ModeReason { get; private set; } = "";
    public KvBlockLayout Layout => layout;
    public long MaxBytes { get; private set; }
    /// <summary>Completes when the index is whole (loaded, or the start-up scan finished).</summary>
    public Task Ready => ready.Task;
    /// <summary>True after a failed write (disk full, I/O error): no more writes until restart; reads continue.</summary>
    public bool WritingStopped => writingStopped;

    public int BlockCount => index.Count;
    public long TotalBytes => index.TotalBytes;
    public long BlocksWritten => Interlocked.Read(ref blocksWritten);
    public long BytesWritten => Interlocked.Read(ref bytesWritten);
    public long BlocksRead => Interlocked.Read(ref blocksRead);
    public long BytesRead => Interlocked.Read(ref bytesRead);
    /// <summary>Files that failed verification (deleted when this process owns the directory).</summary>
    public long CorruptBlocks => Interlocked.Read(ref corruptBlocks);
    /// <summary>Blocks not persisted because every write buffer was in use.</summary>
    public long WritesDropped => Interlocked.Read(ref writesDropped);
    public long PrunedBlocks => Interlocked.Read(ref prunedBlocks);
    public long Lookups => Interlocked.Read(ref lookups);
    public long LookupHitBlocks => Interlocked.Read(ref lookupHits);

    // ---- engine-facing API ----

    /// <summary>
    /// Queues a block for writing (any thread; never blocks on I/O). Copies <paramref name="blockBytes"/> (pool layout)
    /// into a pooled buffer. True when the block is on disk, queued, or was just queued; false when the tier does not
    /// write (disabled, read-only, stopped) or every buffer is in use — the block is then simply not persisted.
    /// </summary>
    public bool TryEnqueueWrite(UInt128 hash, UInt128 parentHash, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> blockBytes)
    {
        if (Mode != SsdTierMode.ReadWrite || writingStopped || stopping) return false;
        if (tokens.Length != layout.BlockSize || blockBytes.Length != this.blockBytes)
            throw new ArgumentException($"a block is {layout.BlockSize} tokens and {this.blockBytes} bytes; got {tokens.Length} and {blockBytes.Length}");
        SsdWriteBuffer? buffer;
        lock (gate)
        {
            if (queued.Contains(hash) || index.Contains(hash)) return true;
            if (!freeBuffers.TryPop(out buffer))
            {
                if (buffersAllocated >= options.WriteQueueDepth)
                {
                    writesDropped++;
                    return false;
                }
                buffersAllocated++;   // allocated lazily below: an idle tier holds no buffers
            }
            queued.Add(hash);
            pendingWrites++;
        }
        buffer ??= new SsdWriteBuffer(layout);
        buffer.Hash = hash;
        buffer.Parent = parentHash;
        tokens.CopyTo(buffer.Tokens);
        KvBlockFile.ToFileOrder(layout, blockBytes, buffer.Payload);
        lock (gate) writeQueue.Enqueue(buffer);
        signal.Release();
        return true;
    }

    /// <summary>
    /// Continues a prompt's hash chain from block <paramref name="startBlock"/> (whose parent has hash
    /// <paramref name="parentHash"/>: the last RAM-resident block's, or default for block 0) and returns how many
    /// consecutive blocks, at most <paramref name="maxBlocks"/>, are on disk; their hashes go to <paramref name="hashes"/>.
    /// Only the index is consulted: the reads verify.
    /// </summary>
    public int LookupChain(ReadOnlySpan<int> tokens, int startBlock, UInt128 parentHash, int maxBlocks, Span<UInt128> hashes)
    {
        if (Mode == SsdTierMode.Disabled) return 0;
        int bs = layout.BlockSize, found = 0;
        UInt128 parent = parentHash;
        maxBlocks = Math.Min(maxBlocks, hashes.Length);
        for (int j = 0; j < maxBlocks; j++)
        {
            long start = (long)(startBlock + j) * bs;
            if (start + bs > tokens.Length) break;
            UInt128 hash = BlockHash.Chain(parent, tokens.Slice((int)start, bs), fingerprint);
            if (!index.Links(hash, parent)) break;
            hashes[j] = hash;
            parent = hash;
            found++;
        }
        Interlocked.Increment(ref lookups);
        Interlocked.Add(ref lookupHits, found);
        return found;
    }

    /// <summary>
    /// Reads block <paramref name="hash"/> into <paramref name="destination"/> (pool layout, at least
    /// <see cref="KvBlockLayout.BlockBytes"/>) and verifies it against <paramref name="expectedTokens"/>,
    /// <paramref name="expectedParent"/>, the fingerprint, the layout and the payload checksum. Any thread; reads run in
    /// parallel. False on a miss or a failed verification (the file is then deleted and counted); the destination's
    /// content is then undefined. Tokens are memory, not a span, because the check happens after the read completes.
    /// </summary>
    public ValueTask<bool> ReadBlockAsync(UInt128 hash, ReadOnlyMemory<int> expectedTokens, UInt128 expectedParent, Memory<byte> destination)
    {
        if (Mode == SsdTierMode.Disabled || expectedTokens.Length != layout.BlockSize) return ValueTask.FromResult(false);
        if (destination.Length < blockBytes) throw new ArgumentException($"destination holds {destination.Length} bytes, a block is {blockBytes}");
        if (!index.Links(hash, expectedParent)) return ValueTask.FromResult(false);
        return ReadCoreAsync(hash, expectedParent, expectedTokens, destination[..blockBytes]);
    }

    /// <summary>
    /// Reads blocks <paramref name="startBlock"/>.. of a chain found by <see cref="LookupChain"/> in parallel on the thread
    /// pool into consecutive <see cref="KvBlockLayout.BlockBytes"/> slices of <paramref name="destination"/>; returns how
    /// many leading blocks were read and verified (a chain is only usable up to its first bad block). The task completes
    /// only after every block's read has: nothing writes into <paramref name="destination"/> afterwards.
    /// </summary>
    public Task<int> ReadChainAsync(ReadOnlyMemory<int> tokens, int startBlock, UInt128 parentHash, ReadOnlyMemory<UInt128> hashes, Memory<byte> destination)
    {
        if (destination.Length < (long)hashes.Length * blockBytes)
            throw new ArgumentException($"destination holds {destination.Length} bytes, {hashes.Length} blocks need {(long)hashes.Length * blockBytes}");
        // One hop to the pool for the whole chain (opening files is blocking I/O), not one per block.
        return Task.Run(() => ReadChainCoreAsync(tokens, startBlock, parentHash, hashes, destination));
    }

    async Task<int> ReadChainCoreAsync(ReadOnlyMemory<int> tokens, int startBlock, UInt128 parentHash, ReadOnlyMemory<UInt128> hashes, Memory<byte> destination)
    {
        int n = hashes.Length, bs = layout.BlockSize;
        // Every block's read is started before any is awaited: each runs until its first I/O wait (file reads complete on
        // the pool), so the reads and their checksums overlap.
        var reads = new ValueTask<bool>[n];
        for (int j = 0; j < n; j++)
        {
            UInt128 parent = j == 0 ? parentHash : hashes.Span[j - 1];
            reads[j] = StartRead(hashes.Span[j], tokens.Slice((startBlock + j) * bs, bs), parent, destination.Slice(j * blockBytes, blockBytes));
        }
        int ok = n;
        Exception? error = null;
        for (int j = 0; j < n; j++)
        {
            try
            {
                if (!await reads[j].ConfigureAwait(false)) ok = Math.Min(ok, j);
            }
            catch (Exception e)
            {
                error ??= e;
                ok = Math.Min(ok, j);
            }
        }
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return ok;
    }

    ValueTask<bool> StartRead(UInt128 hash, ReadOnlyMemory<int> tokens, UInt128 parent, Memory<byte> destination)
    {
        try
        {
            return ReadBlockAsync(hash, tokens, parent, destination);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<bool>(e);
        }
    }

    async ValueTask<bool> ReadCoreAsync(UInt128 hash, UInt128 parent, ReadOnlyMemory<int> tokens, Memory<byte> destination)
    {
        string path = BlockPath(hash, parent);
        var (outcome, fileLength) = await SsdBlockReader.ReadAsync(fs, path, codec, hash, parent, tokens, destination).ConfigureAwait(false);
        if (outcome == SsdBlockReader.Outcome.Missing)
        {
            // Pruned by the writer, deleted by hand, or unreadable: a miss, not corruption.
            Forget(hash);
            return false;
        }
        if (outcome == SsdBlockReader.Outcome.Corrupt)
        {
            Interlocked.Increment(ref corruptBlocks);
            Forget(hash);
            // Only the owner deletes: in a read-only instance the directory is another process's (or not writable).
            if (Mode == SsdTierMode.ReadWrite) TryDelete(path);
            return false;
        }
        Interlocked.Increment(ref blocksRead);
        Interlocked.Add(ref bytesRead, fileLength);
        index.Touch(hash, Now);
        return true;
    }

    void Forget(UInt128 hash) => index.Forget(hash);

    // ---- background thread ----

    void Run()
    {
        try
        {
            if (Mode == SsdTierMode.ReadWrite) CleanTemp();
            if (scanAtStart) Scan();
        }
        catch (Exception e)
        {
            Log($"SSD KV tier: start-up scan failed: {e.Message}");
        }
        ready.TrySetResult();
        long interval = Math.Max(1, (long)options.MaintenanceInterval.TotalMilliseconds);
        long next = Environment.TickCount64 + interval;
        while (true)
        {
            int wait = (int)Math.Clamp(next - Environment.TickCount64, 0, int.MaxValue);
            signal.Wait(wait);
            while (TryDequeue(out var buffer))
            {
                Write(buffer);
                lock (gate)
                {
                    queued.Remove(buffer.Hash);
                    freeBuffers.Push(buffer);
                    pendingWrites--;
                }
            }
            if (stopping) break;
            var request = Interlocked.Exchange(ref maintenanceRequest, null);
            if (request is not null || Environment.TickCount64 >= next)
            {
                Maintain();
                request?.TrySetResult();
                next = Environment.TickCount64 + interval;
            }
        }
        if (Mode == SsdTierMode.ReadWrite)
        {
            SaveIndex();
            // A clean shutdown: the saved index is exact, so the next start needs no scan.
            TryDelete(Path.Combine(Directory, DirtyName));
        }
        Interlocked.Exchange(ref maintenanceRequest, null)?.TrySetResult();
    }

    bool TryDequeue(out SsdWriteBuffer buffer)
    {
        lock (gate) return writeQueue.TryDequeue(out buffer!);
    }

    void Write(SsdWriteBuffer block)
    {
        if (writingStopped) return;
        string? temp = null;
        try
        {
            var header = codec.Header(block.Hash, block.Parent, block.Tokens, block.Payload);
            long size = header.Length + (long)blockBytes;
            if (size > MaxBytes) return;
            if (TotalBytes + size > MaxBytes) Prune(size);
            var (leafPath, leaf) = SsdBlockPaths.LeafOf(Directory, block.Hash);
            if (!leafCreated[leaf])
            {
                fs.CreateDirectory(leafPath);
                leafCreated[leaf] = true;
            }
            temp = Path.Combine(Directory, TempName, block.Hash.ToString("x32", CultureInfo.InvariantCulture) + ".tmp");
            fs.WriteDurable(temp, header, block.Payload);
            fs.Move(temp, BlockPath(block.Hash, block.Parent));
            temp = null;
            index.Add(block.Hash, new SsdIndexEntry(block.Parent, size, Now));
            Interlocked.Increment(ref blocksWritten);
            Interlocked.Add(ref bytesWritten, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            writingStopped = true;
            string what = IsDiskFull(e) ? "the disk is full" : "a write failed";
            Log($"SSD KV tier: {what} ({e.Message}); no more blocks are written until restart, reads continue");
            if (temp is not null) TryDelete(temp);
        }
    }

    static bool IsDiskFull(Exception e) =>
        // ENOSPC (28) and EDQUOT (122 Linux, 69 macOS) surface as the raw errno on Unix; ERROR_DISK_FULL / HANDLE_DISK_FULL on Windows.
        e.HResult is 28 or 122 or 69 or unchecked((int)0x80070070) or unchecked((int)0x80070027);

    void Maintain()
    {
        try
        {
            if (Mode == SsdTierMode.ReadWrite)
            {
                Prune(0);
                if (index.Dirty) SaveIndex();
            }
            else Scan();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"SSD KV tier: maintenance failed: {e.Message}");
        }
    }

    /// <summary>Deletes blocks unused for longer than the TTL, then the least recently used until
    /// <paramref name="incoming"/> more bytes fit under 90 % of the cap.</summary>
    void Prune(long incoming)
    {
        var victims = index.Prune(Now - options.Ttl.Ticks, MaxBytes, incoming);
        foreach (var (h, p) in victims) TryDelete(BlockPath(h, p));
        Interlocked.Add(ref prunedBlocks, victims.Count);
    }

    void SaveIndex()
    {
        try
        {
            int length = index.Serialize(fingerprint, ref indexBuffer);
            string path = Path.Combine(Directory, IndexName), temp = Path.Combine(Directory, TempName, IndexName + ".tmp");
            fs.WriteDurable(temp, indexBuffer.AsSpan(0, length), default);
            fs.Move(temp, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            index.MarkDirty();   // the scan at the next start recovers whatever is missing
        }
    }

    void CleanTemp()
    {
        foreach (var f in fs.EnumerateFiles(Path.Combine(Directory, TempName)))
            TryDelete(Path.Combine(Directory, TempName, f.Name));
    }

    /// <summary>Makes the index match the directory: adds files it lacks, drops entries whose file is gone.</summary>
    void Scan()
    {
        var seen = new HashSet<UInt128>();
        foreach (var (hash, parent, length, lastWrite) in SsdBlockPaths.Enumerate(fs, Directory))
        {
            seen.Add(hash);
            index.Add(hash, new SsdIndexEntry(parent, length, lastWrite.Ticks), onlyIfAbsent: true);
        }
        index.KeepOnly(seen);
    }

    // ---- helpers ----

    long Now => time.GetUtcNow().UtcTicks;

    internal string BlockPath(UInt128 hash, UInt128 parent) => SsdBlockPaths.BlockPath(Directory, hash, parent);

    void TryDelete(string path)
    {
        try
        {
            fs.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next prune or scan.
        }
    }

    void Disable(string reason)
    {
        Mode = SsdTierMode.Disabled;
        ModeReason = reason;
        Log($"SSD KV tier disabled: {reason}; serving without it");
        ready.TrySetResult();
    }

    void Log(string message) => log?.Invoke(message);

    /// <summary>Test hook: runs a maintenance pass (prune and index save, or a rescan) on the background thread now.</summary>
    internal Task MaintainNowAsync()
    {
        if (worker is null) return Task.CompletedTask;
        var request = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref maintenanceRequest, request)?.TrySetResult();
        signal.Release();
        return request.Task;
    }

    /// <summary>Test hook: waits until every queued write finished (or failed); false on timeout.</summary>
    internal bool WaitForWrites(TimeSpan timeout)
    {
        long end = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            lock (gate) if (pendingWrites == 0) return true;
            if (Environment.TickCount64 > end) return false;
            Thread.Sleep(1);
        }
    }

    /// <summary>Writes what is queued, saves the index, releases the lock. Blocks until the writer finished.</summary>
    public void Dispose()
    {
        if (worker is null || stopping) return;
        stopping = true;
        signal.Release();
        worker.Join();
        lockHandle?.Dispose();
        codec.Dispose();
        signal.Dispose();
    }
}
