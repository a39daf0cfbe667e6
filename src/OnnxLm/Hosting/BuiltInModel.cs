using OnnxLm.Builder;

namespace OnnxLm.Hosting;

/// <summary>
/// The model served when no --model is given: a small random-weight llama-style decoder built by our own
/// <see cref="ModelBuilder"/> into the user cache directory on first run. It exercises the whole server but its text is noise.
/// </summary>
internal static class BuiltInModel
{
    public const string Name = "onnxlm-builtin-tiny";

    public static ModelBuilderOptions Options => ModelBuilderOptions.Tiny with { ContextLength = 2048 };

    public static string CacheRoot()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsMacOS()) return Path.Combine(home, "Library", "Caches", "onnxlm");
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".cache") : xdg, "onnxlm");
    }

    public static string Ensure(ILogger log)
    {
        string dir = Path.Combine(CacheRoot(), "models", Name);
        log.LogWarning("no --model given: serving the built-in random-weight TEST model '{Name}' from {Dir}; its output is noise. " +
                       "To serve a real model: onnxlm serve --model /path/to/genai-model-folder", Name, dir);
        if (!File.Exists(Path.Combine(dir, "genai_config.json")))
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ModelBuilder.Build(dir, Options);
            log.LogInformation("built the test model in {Ms} ms", sw.ElapsedMilliseconds);
        }
        return dir;
    }
}
