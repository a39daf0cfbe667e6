using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Runs the decoder with host-owned KV slot rows (docs/ENGINE.md §3). Per layer, one K and one V buffer shaped
/// <c>[Slots, kvHeads, MaxLen, headSize]</c> live in native memory; a run binds a view of contiguous rows as both past
/// and present, so GroupQueryAttention writes the new positions in place.
/// Invariants: only the engine thread calls this type. Decode runs rows [0, B) with a mask width W from a short ladder
/// (256, 512, … doubling, then MaxLen) just wide enough for the longest row; every (B, W) binding is created up front and
/// reused, so a decode step allocates nothing. The graph sums the mask over W every step, so a fixed W = MaxLen would make
/// each step pay for the configured context (at 131,072 × 8 rows, 1 M mask elements) instead of the tokens in use. Prefill runs B=1 at any row,
/// or a batch of fresh rows with right padding and W == S. Positions beyond a row's length are never read, so rows are
/// reused without clearing.
/// </summary>
public sealed unsafe class ModelRunner : ISlotRowMemory, IDisposable
{
    readonly InferenceSession session;
    readonly RunOptions runOptions = new();
    readonly OrtMemoryInfo cpu = OrtMemoryInfo.DefaultInstance;
    readonly int layers, kvHeads, headSize;
    readonly long rowBytes, headBytes, positionBytes;
    readonly NativeBuffer[] keys, values;
    readonly NativeBuffer decodeIds, decodePositions, mask, decodeLogits, prefillIds, prefillPositions, prefillMask, prefillLogits, logitsScratch;
    readonly int[] maskFilled;
    readonly int[] maskWidths;        // the ladder of decode mask widths, ascending; the last is MaxLen
    int widthIndex = -1;              // the decode mask's current width: rows [0, Slots) laid out with stride maskWidths[widthIndex]
    readonly OrtIoBinding?[] decodeBindings;   // [widthIndex * Slots + B - 1]
    readonly OrtValue?[] batchKv;              // [(B - 1) * layers * 2 + layer * 2 + kind] for B > 1, shared by every width
    readonly OrtValue?[] rowKv; // [row * layers * 2 + layer * 2 + (0 key | 1 value)], shape [1, kvH, MaxLen, hd]
    readonly bool hasPositionIds, halfLogits;

    public ModelContract Contract { get; }
    public int Slots { get; }
    public int MaxLen { get; }
    public int VocabSize { get; }
    public int MaxPrefillTokens { get; }
    public long KvBytes { get; }

    /// <summary>Test hook: called before every model run; throwing from it simulates a kernel failure.</summary>
    internal Action<bool>? BeforeRun { get; set; }

    public ModelRunner(ModelContract inspected, int slots, int maxLen, int maxPrefillTokens, int threads)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            session = new InferenceSession(inspected.ModelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFormatException($"{inspected.ModelPath}: ONNX Runtime could not load the model: {e.Message}");
        }
        finally
        {
            options.Dispose();
        }
        try
        {
            Contract = inspected.CheckSession(session);
        }
        catch
        {
            session.Dispose();
            throw;
        }
        var c = Contract.Config;
        if (maxLen > Contract.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(maxLen), $"context length {maxLen} exceeds what the model supports ({Contract.MaxPositions})");
        Slots = slots;
        MaxLen = maxLen;
        VocabSize = c.VocabSize;
        MaxPrefillTokens = maxPrefillTokens;
        layers = c.NumLayers;
        kvHeads = c.NumKvHeads;
        headSize = c.HeadSize;
        positionBytes = (long)headSize * Contract.KvElementSize;
        headBytes = positionBytes * maxLen;
        rowBytes = headBytes * kvHeads;
        hasPositionIds = c.PositionIdsName is not null && session.InputMetadata.ContainsKey(c.PositionIdsName);
        halfLogits = Contract.LogitsType == TensorElementType.Float16;

        keys = new NativeBuffer[layers];
        values = new NativeBuffer[layers];
        for (int l = 0; l < layers; l++)
        {
            // Not zeroed and kept on small pages: the OS commits a row's pages as its tokens are written (PageResidency),
            // so a long configured context costs memory only for the tokens in use.
            keys[l] = new NativeBuffer(rowBytes * slots, zero: false);
            values[l] = new NativeBuffer(rowBytes * slots, zero: false);
            PageResidency.KeepOnSmallPages(keys[l].Pointer, keys[l].Bytes);
            PageResidency.KeepOnSmallPages(values[l].Pointer, values[l].Bytes);
        }
        KvBytes = 2L * layers * rowBytes * slots;
        int logitSize = halfLogits ? 2 : 4;
        decodeIds = new NativeBuffer(8L * slots);
        decodePositions = new NativeBuffer(8L * slots);
        mask = new NativeBuffer(8L * slots * maxLen, zero: false);   // a width change clears the part it uses
        decodeLogits = new NativeBuffer((long)logitSize * slots * VocabSize);
        int prefillCap = Math.Max(maxPrefillTokens, 1);
        prefillIds = new NativeBuffer(8L * prefillCap);
        prefillPositions = new NativeBuffer(8L * prefillCap);
        prefillMask = new NativeBuffer(8L * Math.Max(prefillCap, maxLen));
        prefillLogits = new NativeBuffer((long)logitSize * prefillCap * VocabSize, zero: false);
        logitsScratch = new NativeBuffer(4L * slots * VocabSize);
        maskFilled = new int[slots];
        maskWidths = MaskWidths(maxLen);
        decodeBindings = new OrtIoBinding?[slots * maskWidths.Length];
        batchKv = new OrtValue?[slots * layers * 2];
        rowKv = new OrtValue?[slots * layers * 2];
        // Every batch size gets its binding now, so no decode step ever pays for creating one.
        for (int k = 0; k < maskWidths.Length; k++)
            for (int b = 1; b <= slots; b++) decodeBindings[k * slots + b - 1] = CreateDecodeBinding(b, maskWidths[k]);
    }

    /// <summary>Bytes of the KV slot rows that are resident now (committed pages; -1 where the OS cannot say): what the
    /// rows really cost, against <see cref="KvBytes"/> reserved.</summary>
    public long ResidentKvBytes()
    {
        long total = 0;
        foreach (var b in keys.Concat(values))
        {
            long r = PageResidency.ResidentBytes(b.Pointer, b.Bytes);
            if (r < 0) return -1;
            total += r;
        }
        return total;
    }

    /// <summary>Span over the logits of decode row <paramref name="row"/> from the last <see cref="Decode"/>, as float32.</summary>
    public Span<float> DecodeLogits(int row)
    {
        if (!halfLogits) return decodeLogits.AsSpan<float>((long)row * VocabSize, VocabSize);
        var dst = logitsScratch.AsSpan<float>((long)row * VocabSize, VocabSize);
        TensorPrimitives.ConvertToSingle(decodeLogits.AsSpan<Half>((long)row * VocabSize, VocabSize), dst);
        return dst;
    }

    /// <summary>
    /// One decode step over rows [0, B): row i feeds <paramref name="tokens"/>[i] at position <paramref name="pastLengths"/>[i].
    /// </summary>
    public void Decode(int batch, ReadOnlySpan<int> tokens, ReadOnlySpan<int> pastLengths)
    {
        var ids = decodeIds.AsSpan<long>(0, batch);
        var pos = decodePositions.AsSpan<long>(0, batch);
        int longest = 0;
        for (int i = 0; i < batch; i++)
        {
            int past = pastLengths[i];
            if ((uint)past >= (uint)MaxLen) throw new InvalidOperationException($"row {i} is full ({past} of {MaxLen})");
            longest = Math.Max(longest, past + 1);
        }
        SelectMaskWidth(longest);
        for (int i = 0; i < batch; i++)
        {
            ids[i] = tokens[i];
            pos[i] = pastLengths[i];
            SetMaskRow(i, pastLengths[i] + 1);
        }
        var binding = decodeBindings[widthIndex * Slots + batch - 1]!;
        BeforeRun?.Invoke(false);
        session.RunWithBinding(runOptions, binding);
    }

    /// <summary>256, 512, … (doubling while below <paramref name="maxLen"/>), then <paramref name="maxLen"/>.</summary>
    internal static int[] MaskWidths(int maxLen)
    {
        var widths = new List<int>();
        for (int w = 256; w < maxLen; w *= 2) widths.Add(w);
        widths.Add(maxLen);
        return [.. widths];
    }

    /// <summary>The decode mask width for this step: grows to the smallest rung that holds <paramref name="longest"/>
    /// positions; shrinks only when two rungs down would do (a row crossing a boundary back and forth relays nothing).
    /// A change re-lays the mask out at the new stride (O(Slots × W), once per change).</summary>
    void SelectMaskWidth(int longest)
    {
        int k = 0;
        while (maskWidths[k] < longest) k++;
        if (k == widthIndex || (k == widthIndex - 1)) return;
        widthIndex = k;
        mask.AsSpan<long>(0, Slots * maskWidths[k]).Clear();
        Array.Clear(maskFilled);
    }

    /// <summary>Decode mask width of the last decode step (tests).</summary>
    internal int DecodeMaskWidth => widthIndex < 0 ? 0 : maskWidths[widthIndex];

    void SetMaskRow(int row, int ones)
    {
        ref int filled = ref maskFilled[row];
        if (filled == ones) return;
        int width = maskWidths[widthIndex];
        var m = mask.AsSpan<long>((long)row * width, width);
        if (filled < ones) m[filled..ones].Fill(1);
        else m[ones..filled].Clear();
        filled = ones;
    }

    OrtIoBinding CreateDecodeBinding(int batch, int width)
    {
        var c = Contract.Config;
        var binding = session.CreateIoBinding();
        binding.BindInput(c.InputIdsName, Value(TensorElementType.Int64, [batch, 1], decodeIds.Pointer, 8L * batch));
        binding.BindInput(c.AttentionMaskName, Value(TensorElementType.Int64, [batch, width], mask.Pointer, 8L * batch * width));
        if (hasPositionIds)
            binding.BindInput(c.PositionIdsName!, Value(TensorElementType.Int64, [batch, 1], decodePositions.Pointer, 8L * batch));
        BindKv(binding, 0, batch, retain: true);
        binding.BindOutput(c.LogitsName, Value(Contract.LogitsType, [batch, 1, VocabSize], decodeLogits.Pointer, (halfLogits ? 2L : 4L) * batch * VocabSize));
        return binding;
    }

    // OrtValues handed to a binding that lives for the runner's lifetime are kept here and disposed with it.
    readonly List<OrtValue> retained = [];

    OrtValue Value(TensorElementType type, long[] shape, nint ptr, long bytes)
    {
        var v = OrtValue.CreateTensorValueWithData(cpu, type, shape, ptr, bytes);
        retained.Add(v);
        return v;
    }

    void BindKv(OrtIoBinding binding, int firstRow, int rowCount, bool retain)
    {
        var c = Contract.Config;
        long[] shape = [rowCount, kvHeads, MaxLen, headSize];
        for (int l = 0; l < layers; l++)
        {
            OrtValue k, v;
            if (rowCount == 1)
            {
                k = RowValue(firstRow, l, 0);
                v = RowValue(firstRow, l, 1);
            }
            else if (retain)
            {
                // Decode bindings of every mask width share one KV view per batch size (rows [0, B)).
                int at = ((rowCount - 1) * layers + l) * 2;
                k = batchKv[at] ??= Value(Contract.KvType, shape, keys[l].Pointer + (nint)(firstRow * rowBytes), rowBytes * rowCount);
                v = batchKv[at + 1] ??= Value(Contract.KvType, shape, values[l].Pointer + (nint)(firstRow * rowBytes), rowBytes * rowCount);
            }
            else
            {
                k = OrtValue.CreateTensorValueWithData(cpu, Contract.KvType, shape, keys[l].Pointer + (nint)(firstRow * rowBytes), rowBytes * rowCount);
                v = OrtValue.CreateTensorValueWithData(cpu, Contract.KvType, shape, values[l].Pointer + (nint)(firstRow * rowBytes), rowBytes * rowCount);
                transient.Add(k);
                transient.Add(v);
            }
            binding.BindInput(c.PastKeyName(l), k);
            binding.BindInput(c.PastValueName(l), v);
            binding.BindOutput(c.PresentKeyName(l), k);
            binding.BindOutput(c.PresentValueName(l), v);
        }
    }

    OrtValue RowValue(int row, int layer, int kind)
    {
        int index = (row * layers + layer) * 2 + kind;
        return rowKv[index] ??= OrtValue.CreateTensorValueWithData(cpu, Contract.KvType, [1, kvHeads, MaxLen, headSize],
            (kind == 0 ? keys : values)[layer].Pointer + (nint)(row * rowBytes), rowBytes);
    }

    readonly List<OrtValue> transient = [];

    /// <summary>
    /// Continuing (or first) prefill of one row: <paramref name="tokens"/> go to positions [past, past + S) of
    /// <paramref name="row"/>. Returns the logits of the last position as float32.
    /// </summary>
    public Span<float> Prefill(int row, int past, ReadOnlySpan<int> tokens)
    {
        int s = tokens.Length;
        if (s == 0 || s > MaxPrefillTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"chunk of {s} tokens (max {MaxPrefillTokens})");
        if (past + s > MaxLen) throw new ArgumentOutOfRangeException(nameof(past), $"{past}+{s} exceeds {MaxLen}");
        var ids = prefillIds.AsSpan<long>(0, s);
        var pos = prefillPositions.AsSpan<long>(0, s);
        for (int i = 0; i < s; i++)
        {
            ids[i] = tokens[i];
            pos[i] = past + i;
        }
        int w = past + s;
        prefillMask.AsSpan<long>(0, w).Fill(1);
        RunPrefill(row, 1, s, w);
        return PrefillLogits(s - 1);
    }

    /// <summary>
    /// One batched prefill of fresh rows [firstRow, firstRow + prompts.Count): right-padded to the longest prompt, W == S.
    /// Afterwards <see cref="PrefillLogits"/>(i * S + len_i - 1) holds row i's last logits; returns S.
    /// </summary>
    public int PrefillFresh(int firstRow, IReadOnlyList<int[]> prompts)
    {
        int b = prompts.Count, s = 0;
        foreach (var p in prompts) s = Math.Max(s, p.Length);
        if (s == 0 || (long)b * s > MaxPrefillTokens) throw new ArgumentOutOfRangeException(nameof(prompts), $"{b}x{s} exceeds {MaxPrefillTokens}");
        if (firstRow + b > Slots) throw new ArgumentOutOfRangeException(nameof(firstRow));
        var ids = prefillIds.AsSpan<long>(0, b * s);
        var pos = prefillPositions.AsSpan<long>(0, b * s);
        var m = prefillMask.AsSpan<long>(0, b * s);
        long pad = Math.Max(Contract.Config.PadTokenId, 0);
        for (int r = 0; r < b; r++)
        {
            var p = prompts[r];
            for (int i = 0; i < s; i++)
            {
                bool valid = i < p.Length;
                ids[r * s + i] = valid ? p[i] : pad;
                pos[r * s + i] = i;
                m[r * s + i] = valid ? 1 : 0;
            }
        }
        RunPrefill(firstRow, b, s, s);
        return s;
    }

    /// <summary>Logits of flattened prefill position <paramref name="index"/> (row * S + position) of the last prefill run.</summary>
    public Span<float> PrefillLogits(int index)
    {
        if (!halfLogits) return prefillLogits.AsSpan<float>((long)index * VocabSize, VocabSize);
        var dst = logitsScratch.AsSpan<float>(0, VocabSize);
        TensorPrimitives.ConvertToSingle(prefillLogits.AsSpan<Half>((long)index * VocabSize, VocabSize), dst);
        return dst;
    }

    void RunPrefill(int firstRow, int batch, int s, int w)
    {
        var c = Contract.Config;
        using var binding = session.CreateIoBinding();
        try
        {
            binding.BindInput(c.InputIdsName, Transient(TensorElementType.Int64, [batch, s], prefillIds.Pointer, 8L * batch * s));
            binding.BindInput(c.AttentionMaskName, Transient(TensorElementType.Int64, [batch, w], prefillMask.Pointer, 8L * batch * w));
            if (hasPositionIds)
                binding.BindInput(c.PositionIdsName!, Transient(TensorElementType.Int64, [batch, s], prefillPositions.Pointer, 8L * batch * s));
            BindKv(binding, firstRow, batch, retain: false);
            binding.BindOutput(c.LogitsName, Transient(Contract.LogitsType, [batch, s, VocabSize], prefillLogits.Pointer, (halfLogits ? 2L : 4L) * batch * s * VocabSize));
            BeforeRun?.Invoke(true);
            session.RunWithBinding(runOptions, binding);
        }
        finally
        {
            foreach (var v in transient) v.Dispose();
            transient.Clear();
        }
    }

    OrtValue Transient(TensorElementType type, long[] shape, nint ptr, long bytes)
    {
        var v = OrtValue.CreateTensorValueWithData(cpu, type, shape, ptr, bytes);
        transient.Add(v);
        return v;
    }

    /// <summary>Copies the first <paramref name="length"/> positions of row <paramref name="from"/> into row <paramref name="to"/>.</summary>
    public void CopyRow(int from, int to, int length)
    {
        if (from == to || length <= 0) return;
        long bytes = positionBytes * length;
        for (int l = 0; l < layers; l++)
        {
            CopyRowHeads((byte*)keys[l].Pointer, from, to, bytes);
            CopyRowHeads((byte*)values[l].Pointer, from, to, bytes);
        }
    }

    void CopyRowHeads(byte* buffer, int from, int to, long bytes)
    {
        for (int h = 0; h < kvHeads; h++)
            Buffer.MemoryCopy(buffer + from * rowBytes + h * headBytes, buffer + to * rowBytes + h * headBytes, bytes, bytes);
    }

    /// <summary>Address of <paramref name="position"/> in one row's K or V slab for one layer and kv head; positions of a
    /// head are contiguous, so a run of positions is one memcpy.</summary>
    internal byte* SlabPointer(int row, int layer, bool value, int kvHead, int position)
        => (byte*)(value ? values : keys)[layer].Pointer + row * rowBytes + kvHead * headBytes + position * positionBytes;

    int ISlotRowMemory.Layers => layers;
    int ISlotRowMemory.KvHeads => kvHeads;
    int ISlotRowMemory.HeadSize => headSize;
    int ISlotRowMemory.KvElementSize => Contract.KvElementSize;
    string ISlotRowMemory.KvElementName => Contract.KvType.ToString();
    byte* ISlotRowMemory.SlabPointer(int row, int layer, bool value, int kvHead, int position) => SlabPointer(row, layer, value, kvHead, position);

    /// <summary>Raw view of one row's K or V for one layer and kv head (tests and the block cache).</summary>
    public Span<byte> RowBytes(int row, int layer, bool value, int kvHead, int positions)
        => new((byte*)(value ? values : keys)[layer].Pointer + row * rowBytes + kvHead * headBytes, (int)(positionBytes * positions));

    public void Dispose()
    {
        foreach (var b in decodeBindings) b?.Dispose();
        foreach (var v in rowKv) v?.Dispose();
        foreach (var v in retained) v.Dispose();
        session.Dispose();
        runOptions.Dispose();
        foreach (var b in keys) b?.Dispose();
        foreach (var b in values) b?.Dispose();
        foreach (var b in new[] { decodeIds, decodePositions, mask, decodeLogits, prefillIds, prefillPositions, prefillMask, prefillLogits, logitsScratch })
            b.Dispose();
    }
}
