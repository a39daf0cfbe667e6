using System.Globalization;
using System.Text;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// Request-level metrics the handlers record (latency histograms, outcomes, rejections) and the Prometheus text rendering
/// of those plus the engine's own counters. Names follow vLLM where a dashboard exists for them (<c>vllm:</c> prefix) and
/// use <c>onnxlm:</c> otherwise. Recording is allocation-free and lock-free; only a scrape allocates.
/// </summary>
internal sealed class ServerMetrics
{
    static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    static readonly double[] ItlBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5];
    static readonly double[] E2eBuckets = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240];
    static readonly string[] RejectLabels =
        ["bad_request", "context_length", "unauthorized", "not_found", "method_not_allowed", "too_large", "unsupported_media_type", "queue_full", "unavailable", "memory_pressure", "internal_error"];

    readonly long[] rejected = new long[RejectLabels.Length];
    long finishedStop, finishedLength, finishedAbort, finishedError;

    public LatencyHistogram TimeToFirstToken { get; } = new("vllm:time_to_first_token_seconds", "Time from request arrival to its first generated token.", TtftBuckets);
    public LatencyHistogram InterTokenLatency { get; } = new("vllm:inter_token_latency_seconds", "Time between two generated tokens of one sequence.", ItlBuckets);
    public LatencyHistogram EndToEnd { get; } = new("vllm:e2e_request_latency_seconds", "Time from request arrival to its last token.", E2eBuckets);

    public void Rejected(RejectReason reason) => Interlocked.Increment(ref rejected[(int)reason]);

    public long RejectedCount(RejectReason reason) => Interlocked.Read(ref rejected[(int)reason]);

    public void Finished(FinishReason reason)
    {
        switch (reason)
        {
            case FinishReason.Stop: Interlocked.Increment(ref finishedStop); break;
            case FinishReason.Length: Interlocked.Increment(ref finishedLength); break;
            default: Interlocked.Increment(ref finishedAbort); break;
        }
    }

    public void Failed() => Interlocked.Increment(ref finishedError);

    public static RejectReason ReasonFor(ApiError e) => e.Status switch
    {
        400 when e.Code == "context_length_exceeded" => RejectReason.ContextLength,
        400 => RejectReason.BadRequest,
        401 => RejectReason.Unauthorized,
        404 => RejectReason.NotFound,
        405 => RejectReason.MethodNotAllowed,
        413 => RejectReason.TooLarge,
        415 => RejectReason.UnsupportedMediaType,
        429 => RejectReason.QueueFull,
        503 when e.Code == ServingState.MemoryPressureCode => RejectReason.MemoryPressure,
        503 => RejectReason.Unavailable,
        _ => RejectReason.InternalError,
    };

    /// <summary>The Prometheus text exposition (format 0.0.4) of every metric.</summary>
    public string Render(InferenceEngine? engine, string modelName, MemoryPressure? memory = null)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder(8192);
        string labels = "model_name=\"" + Escape(modelName) + "\"";
        void Metric(string name, string type, string help, double value)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            text.Append(name).Append('{').Append(labels).Append("} ").Append(value.ToString("R", c)).Append('\n');
        }

        Metric("onnxlm:ready", "gauge", "1 when the engine is loaded and accepting requests.", engine is null || engine.IsStopping ? 0 : 1);
        if (engine is not null)
        {
            // One snapshot the engine thread published: values that belong together, no reads of engine-thread state.
            var stats = engine.Statistics;
            Metric("vllm:num_requests_running", "gauge", "Sequences holding a KV row (prefilling or decoding).", stats.ActiveSequences);
            Metric("vllm:num_requests_waiting", "gauge", "Sequences queued for a KV row.", stats.WaitingRequests);
            Metric("vllm:prompt_tokens_total", "counter", "Prompt tokens of admitted sequences.", stats.PromptTokensTotal);
            Metric("vllm:generation_tokens_total", "counter", "Generated tokens.", stats.GeneratedTokensTotal);
            Metric("onnxlm:cached_prompt_tokens_total", "counter", "Prompt tokens whose KV was reused instead of prefilled.", stats.CachedPromptTokensTotal);
            text.Append("# HELP onnxlm:cached_prompt_tokens_by_tier_total Prompt tokens whose KV was reused, by the tier it came from (pool: RAM blocks or a resident row).\n")
                .Append("# TYPE onnxlm:cached_prompt_tokens_by_tier_total counter\n");
            Tier("pool", stats.CachedPoolTokensTotal);
            Tier("ssd", stats.CachedSsdTokensTotal);
            Tier("remote", stats.CachedRemoteTokensTotal);
            void Tier(string tier, long value) =>
                text.Append("onnxlm:cached_prompt_tokens_by_tier_total{").Append(labels).Append(",tier=\"").Append(tier).Append("\"} ")
                    .Append(value.ToString(c)).Append('\n');
            Metric("onnxlm:kv_slots_used", "gauge", "KV slot rows in use.", stats.ActiveSequences);
            Metric("onnxlm:kv_slots_total", "gauge", "KV slot rows (the batch size).", engine.MaxBatchSize);
            Metric("onnxlm:context_length", "gauge", "Tokens per sequence (the model's, capped by the memory budget).", engine.ContextLength);
            Metric("onnxlm:memory_planned_bytes", "gauge", "Memory the start-up arithmetic plans for at full load (weights, prefix cache, KV of every slot).", engine.Memory.PlannedBytes);
            if (memory is not null)
            {
                Metric("onnxlm:memory_available_bytes", "gauge", "The machine's available memory at the last admission check (-1 before the first).", memory.LastAvailableBytes);
                Metric("onnxlm:memory_reserve_bytes", "gauge", "Below this much available memory, new requests get 503.", memory.MinAvailableBytes);
            }
            Metric("onnxlm:constrained_requests_total", "counter", "Requests admitted with a response_format grammar (a group of n counts once).", engine.ConstrainedRequests);
            Metric("onnxlm:grammar_cache_hits_total", "counter", "response_format schemas found compiled (or refused) in the grammar cache.", engine.Grammars.Hits);
            Metric("onnxlm:grammar_cache_misses_total", "counter", "response_format schemas compiled (cache misses, refusals included).", engine.Grammars.Misses);
            Histogram(text, labels, "onnxlm:schema_compile_seconds", "Time to compile a response_format schema (cache misses, refusals included).", engine.Grammars.CompileTimes);
            Histogram(text, labels, "onnxlm:grammar_mask_seconds", $"Time to compute and apply one grammar mask on the engine thread (one mask in {engine.GrammarMaskSampleInterval} sampled).", engine.GrammarMaskTimes);
            if (stats.PrefixCache is { } cache)
            {
                Metric("onnxlm:kv_blocks_used", "gauge", "Prefix cache KV blocks holding data.", cache.BlocksUsed);
                Metric("onnxlm:kv_blocks_free", "gauge", "Prefix cache KV blocks free.", cache.BlocksFree);
                Metric("vllm:kv_cache_usage_perc", "gauge", "Fraction of prefix cache KV blocks in use (1 = full).", cache.Capacity == 0 ? 0 : cache.BlocksUsed / (double)cache.Capacity);
                Metric("vllm:prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.", cache.QueriedTokens);
                Metric("vllm:prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.", cache.HitTokens);
                Metric("onnxlm:prefix_cache_evictions_total", "counter", "Prefix cache blocks evicted.", cache.Evictions);
            }
            if (stats.Ssd is { } ssd)
            {
                Metric("onnxlm:ssd_tier_writable", "gauge", "1 when this process writes the SSD tier (0: read-only, another process owns it).", ssd.Writable ? 1 : 0);
                Metric("onnxlm:ssd_blocks", "gauge", "KV blocks stored in the SSD tier.", ssd.Blocks);
                Metric("onnxlm:ssd_bytes", "gauge", "Bytes of KV block files in the SSD tier.", ssd.Bytes);
                Metric("onnxlm:ssd_max_bytes", "gauge", "Cap of the SSD tier in bytes.", ssd.MaxBytes);
                Metric("onnxlm:ssd_blocks_written_total", "counter", "KV blocks written to the SSD tier.", ssd.BlocksWritten);
                Metric("onnxlm:ssd_blocks_read_total", "counter", "KV blocks read back from the SSD tier.", ssd.BlocksRead);
                Metric("onnxlm:ssd_writes_dropped_total", "counter", "KV blocks not persisted because the write queue was full.", ssd.WritesDropped);
                Metric("onnxlm:ssd_corrupt_blocks_total", "counter", "KV block files that failed verification and were deleted.", ssd.CorruptBlocks);
                Metric("onnxlm:ssd_pruned_blocks_total", "counter", "KV block files pruned by TTL or the byte cap.", ssd.PrunedBlocks);
                Metric("onnxlm:ssd_writing_stopped", "gauge", "1 after a failed write (disk full): no more writes until restart.", ssd.WritingStopped ? 1 : 0);
            }
            if (stats.Remote is { } remote)
            {
                Metric("onnxlm:remote_kv_connected", "gauge", "1 while connected to the remote KV tier's Redis.", remote.Connected ? 1 : 0);
                Metric("onnxlm:remote_kv_breaker_state", "gauge", "Remote KV tier circuit breaker: 0 closed, 1 open (tier skipped), 2 half-open (probing).", (int)remote.Breaker);
                Metric("onnxlm:remote_kv_breaker_opened_total", "counter", "Times the remote KV tier's breaker opened after repeated errors.", remote.BreakerOpened);
                Metric("onnxlm:remote_kv_breaker_closed_total", "counter", "Times a successful probe closed the remote KV tier's breaker.", remote.BreakerClosed);
                Metric("onnxlm:remote_kv_gets_total", "counter", "Block keys asked of the remote KV tier (pipelined MGETs).", remote.Gets);
                Metric("onnxlm:remote_kv_hits_total", "counter", "Blocks fetched from the remote KV tier and verified.", remote.Hits);
                Metric("onnxlm:remote_kv_misses_total", "counter", "Remote lookups that ended at a key Redis did not hold.", remote.Misses);
                Metric("onnxlm:remote_kv_rejects_total", "counter", "Remote values that failed verification (deleted, never served).", remote.Rejects);
                Metric("onnxlm:remote_kv_errors_total", "counter", "Failed remote KV commands (connection loss, timeouts, server errors).", remote.Errors);
                Metric("onnxlm:remote_kv_late_total", "counter", "Remote lookups abandoned at their deadline (the prompt was recomputed).", remote.Late);
                Metric("onnxlm:remote_kv_skipped_total", "counter", "Remote lookups not sent: breaker open, not connected, or recomputing measured faster.", remote.Skipped);
                Metric("onnxlm:remote_kv_blocks_written_total", "counter", "Blocks written to the remote KV tier (SET NX).", remote.BlocksWritten);
                Metric("onnxlm:remote_kv_blocks_existing_total", "counter", "Remote writes skipped because another replica had written the block.", remote.BlocksExisting);
                Metric("onnxlm:remote_kv_writes_dropped_total", "counter", "Blocks not written to the remote KV tier (queue full, breaker open, or not connected).", remote.WritesDropped);
                if (!double.IsNaN(remote.RoundTripSeconds))
                    Metric("onnxlm:remote_kv_round_trip_seconds", "gauge", "Measured round trip of small remote KV replies (moving average).", remote.RoundTripSeconds);
                if (!double.IsNaN(remote.BytesPerSecond))
                    Metric("onnxlm:remote_kv_bytes_per_second", "gauge", "Measured transfer rate of remote KV values (moving average).", remote.BytesPerSecond);
                if (!double.IsNaN(remote.PrefillTokensPerSecond))
                    Metric("onnxlm:prefill_tokens_per_second", "gauge", "Measured prefill rate the fetch-or-recompute decision uses (moving average).", remote.PrefillTokensPerSecond);
            }
        }

        text.Append("# HELP vllm:request_success_total Requests that finished, by finish reason.\n# TYPE vllm:request_success_total counter\n");
        Finish("stop", Interlocked.Read(ref finishedStop));
        Finish("length", Interlocked.Read(ref finishedLength));
        Finish("abort", Interlocked.Read(ref finishedAbort));
        Finish("error", Interlocked.Read(ref finishedError));
        void Finish(string reason, long value) =>
            text.Append("vllm:request_success_total{").Append(labels).Append(",finished_reason=\"").Append(reason).Append("\"} ")
                .Append(value.ToString(c)).Append('\n');

        text.Append("# HELP onnxlm:requests_rejected_total Requests refused before or instead of generating, by reason.\n# TYPE onnxlm:requests_rejected_total counter\n");
        for (int i = 0; i < RejectLabels.Length; i++)
            text.Append("onnxlm:requests_rejected_total{").Append(labels).Append(",reason=\"").Append(RejectLabels[i]).Append("\"} ")
                .Append(Interlocked.Read(ref rejected[i]).ToString(c)).Append('\n');

        TimeToFirstToken.Render(text, labels);
        InterTokenLatency.Render(text, labels);
        EndToEnd.Render(text, labels);
        return text.ToString();
    }

    /// <summary>An engine-side duration histogram in the exposition format (cumulative buckets, sum, count).</summary>
    static void Histogram(StringBuilder text, string labels, string name, string help, DurationHistogram histogram)
    {
        var c = CultureInfo.InvariantCulture;
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" histogram\n");
        var bounds = histogram.UpperBounds;
        long cumulative = 0;
        for (int i = 0; i <= bounds.Length; i++)
        {
            cumulative += histogram.Bucket(i);
            string le = i < bounds.Length ? bounds[i].ToString("R", c) : "+Inf";
            text.Append(name).Append("_bucket{").Append(labels).Append(",le=\"").Append(le).Append("\"} ").Append(cumulative.ToString(c)).Append('\n');
        }
        text.Append(name).Append("_sum{").Append(labels).Append("} ").Append(histogram.SumSeconds.ToString("R", c)).Append('\n');
        text.Append(name).Append("_count{").Append(labels).Append("} ").Append(cumulative.ToString(c)).Append('\n');
    }

    static string Escape(string label) => label.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
