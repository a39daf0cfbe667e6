namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// The SSD tier's in-memory index: block hash → (parent, file size, last use), the bytes it accounts for, and whether it
/// changed since it was last saved; it also chooses what pruning deletes (TTL, then least recently used). Invariant:
/// <see cref="TotalBytes"/> is the sum of the entries' sizes, and every method is atomic under one lock (any thread).
/// </summary>
internal sealed class SsdBlockIndex
{
    readonly Lock gate = new();
    readonly Dictionary<UInt128, SsdIndexEntry> entries = [];
    long totalBytes;
    bool dirty;

    public int Count { get { lock (gate) return entries.Count; } }
    public long TotalBytes { get { lock (gate) return totalBytes; } }
    /// <summary>Changed since the last <see cref="Serialize"/>.</summary>
    public bool Dirty { get { lock (gate) return dirty; } }

    /// <summary>Loads a saved index (<see cref="SsdIndexFile"/>); false when it is missing or invalid.</summary>
    public bool TryLoad(ISsdFileSystem fs, string path, UInt128 fingerprint)
    {
        lock (gate)
        {
            bool loaded = SsdIndexFile.TryLoad(fs, path, fingerprint, entries);
            totalBytes = 0;
            foreach (var e in entries.Values) totalBytes += e.Size;
            return loaded;
        }
    }

    public bool Contains(UInt128 hash)
    {
        lock (gate) return entries.ContainsKey(hash);
    }

    /// <summary>Whether block <paramref name="hash"/> is on disk as the child of <paramref name="parent"/>.</summary>
    public bool Links(UInt128 hash, UInt128 parent)
    {
        lock (gate) return entries.TryGetValue(hash, out var e) && e.Parent == parent;
    }

    /// <summary>A block file was written (or found by a scan, <paramref name="onlyIfAbsent"/>).</summary>
    public void Add(UInt128 hash, SsdIndexEntry entry, bool onlyIfAbsent = false)
    {
        lock (gate)
        {
            if (entries.TryGetValue(hash, out var old))
            {
                if (onlyIfAbsent) return;
                totalBytes -= old.Size;
            }
            entries[hash] = entry;
            totalBytes += entry.Size;
            dirty = true;
        }
    }

    /// <summary>A block was read: it becomes the most recently used.</summary>
    public void Touch(UInt128 hash, long nowTicks)
    {
        lock (gate)
        {
            if (!entries.TryGetValue(hash, out var e)) return;
            e.LastUseTicks = nowTicks;
            entries[hash] = e;
            dirty = true;
        }
    }

    /// <summary>A block is gone (deleted, missing, corrupt).</summary>
    public void Forget(UInt128 hash)
    {
        lock (gate)
        {
            if (!entries.Remove(hash, out var e)) return;
            totalBytes -= e.Size;
            dirty = true;
        }
    }

    /// <summary>After a scan of the directory: drops every entry whose file was not <paramref name="seen"/>.</summary>
    public void KeepOnly(HashSet<UInt128> seen)
    {
        lock (gate)
        {
            List<UInt128>? gone = null;
            foreach (var h in entries.Keys) if (!seen.Contains(h)) (gone ??= []).Add(h);
            if (gone is null) return;
            foreach (var h in gone)
            {
                entries.Remove(h, out var e);
                totalBytes -= e.Size;
            }
            dirty = true;
        }
    }

    /// <summary>
    /// Removes, and returns for deletion, the blocks unused since <paramref name="cutoffTicks"/>, then the least recently
    /// used until <paramref name="incoming"/> more bytes fit under 90 % of <paramref name="maxBytes"/> (the margin keeps
    /// pruning rare). Sorting happens outside the lock; an entry touched meanwhile (a read just used it) is kept.
    /// </summary>
    public List<(UInt128 Hash, UInt128 Parent)> Prune(long cutoffTicks, long maxBytes, long incoming)
    {
        (UInt128 Hash, long LastUse, long Size)[] all;
        lock (gate)
        {
            all = new (UInt128, long, long)[entries.Count];
            int i = 0;
            foreach (var (h, e) in entries) all[i++] = (h, e.LastUseTicks, e.Size);
        }
        long bytes = 0;
        foreach (var a in all) bytes += a.Size;
        bool overCap = bytes + incoming > maxBytes;
        if (overCap) Array.Sort(all, static (a, b) => a.LastUse.CompareTo(b.LastUse));
        long target = maxBytes / 10 * 9 - incoming;
        var victims = new List<(UInt128 Hash, UInt128 Parent)>();
        lock (gate)
        {
            foreach (var (h, lastUse, _) in all)
            {
                bool expired = lastUse < cutoffTicks;
                if (!expired && !(overCap && totalBytes > target))
                {
                    if (overCap) break;   // sorted: everything after is newer
                    continue;
                }
                if (!entries.TryGetValue(h, out var e) || e.LastUseTicks != lastUse) continue;
                entries.Remove(h);
                totalBytes -= e.Size;
                victims.Add((h, e.Parent));
            }
            if (victims.Count > 0) dirty = true;
        }
        return victims;
    }

    /// <summary>Serializes the index into <paramref name="buffer"/> (grown as needed); clears <see cref="Dirty"/>.</summary>
    public int Serialize(UInt128 fingerprint, ref byte[] buffer)
    {
        lock (gate)
        {
            dirty = false;
            return SsdIndexFile.Serialize(entries, fingerprint, ref buffer);
        }
    }

    public void MarkDirty()
    {
        lock (gate) dirty = true;
    }
}
