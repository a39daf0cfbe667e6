using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace OnnxLm.Hosting;

/// <summary>
/// Makes ONNX Runtime and GenAI loadable before anything touches them. Three layouts:
/// <list type="bullet">
/// <item>published single file: the libraries are embedded; they are extracted to (or verified in) the content-addressed
///   cache <c>&lt;cache&gt;/onnxlm/native/&lt;sha256&gt;/</c> and loaded from there;</item>
/// <item>tarball (<c>bin/onnxlm</c> + <c>lib/</c>): loaded from <c>../lib</c> (or <c>./lib</c>) next to the executable;</item>
/// <item><c>dotnet build</c>/<c>run</c>/tests: the libraries are beside the executable and the runtime finds them: nothing to do.</item>
/// </list>
/// Loading: libonnxruntime first (GenAI dlopens it by soname/leaf name and finds the loaded copy), then GenAI; the
/// DllImport names "onnxruntime" and "onnxruntime-genai" of the two managed assemblies resolve to those handles.
/// Must run before the first P/Invoke into either library; idempotent.
/// </summary>
internal static class NativeBootstrap
{
    const string OrtImportName = "onnxruntime";
    const string GenAiImportName = "onnxruntime-genai";

    static readonly Lock Gate = new();
    static bool done;
    static IntPtr ortHandle, genAiHandle;

    /// <summary>Where the libraries were loaded from, or null when the runtime's default probing is used.</summary>
    public static string? LibraryDirectory { get; private set; }

    /// <summary>Prepares and loads the native libraries. Returns a one-line note for the user when something happened
    /// worth saying (extracted, replaced an altered copy), else null. Throws <see cref="NativeBootstrapException"/>.</summary>
    public static string? Initialize()
    {
        lock (Gate)
        {
            if (done) return null;
            done = true;
            string? note = null;
            string? dir;
            NativePayload? payload;
            try
            {
                payload = NativePayload.FromAssembly(typeof(NativeBootstrap).Assembly);
            }
            catch (InvalidDataException e)
            {
                throw new NativeBootstrapException($"the embedded native libraries are damaged: {e.Message}", e);
            }
            if (payload is not null)
            {
                string root = Path.Combine(BuiltInModel.CacheRoot(), "native");
                var sw = Stopwatch.StartNew();
                NativeCacheResult result;
                try
                {
                    result = NativeLibraryCache.Ensure(root, payload);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    throw new NativeBootstrapException(
                        $"cannot prepare the native libraries in {root}: {e.Message} (set XDG_CACHE_HOME to a writable directory)", e);
                }
                dir = result.Directory;
                note = result.Outcome switch
                {
                    NativeCacheOutcome.Extracted => $"extracted native libraries to {dir} in {sw.ElapsedMilliseconds} ms",
                    NativeCacheOutcome.Replaced => $"replaced native libraries in {dir} ({result.Problem}) in {sw.ElapsedMilliseconds} ms",
                    _ => null,
                };
            }
            else
            {
                dir = FindTarballLibDirectory();
            }
            if (dir is null) return null;
            Load(dir);
            return note;
        }
    }

    /// <summary><c>&lt;exe dir&gt;/../lib</c> or <c>&lt;exe dir&gt;/lib</c>, only when the libraries are not beside the executable.</summary>
    static string? FindTarballLibDirectory()
    {
        string exeDir = AppContext.BaseDirectory;
        string ort = LibraryFileName(OrtImportName);
        if (File.Exists(Path.Combine(exeDir, ort))) return null;
        foreach (string candidate in (ReadOnlySpan<string>)[Path.Combine(exeDir, "..", "lib"), Path.Combine(exeDir, "lib")])
            if (File.Exists(Path.Combine(candidate, ort))) return Path.GetFullPath(candidate);
        return null;
    }

    static string LibraryFileName(string importName) =>
        OperatingSystem.IsMacOS() ? $"lib{importName}.dylib" :
        OperatingSystem.IsWindows() ? $"{importName}.dll" : $"lib{importName}.so";

    static void Load(string dir)
    {
        try
        {
            ortHandle = NativeLibrary.Load(Path.Combine(dir, LibraryFileName(OrtImportName)));
            genAiHandle = NativeLibrary.Load(Path.Combine(dir, LibraryFileName(GenAiImportName)));
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new NativeBootstrapException($"cannot load the native libraries from {dir}: {e.Message}", e);
        }
        // ORT registers its own resolver on first use unless told not to; ours is already set, which would make it print a
        // warning. The flag is read by ORT before it registers, so setting it after ours keeps the output clean.
        NativeLibrary.SetDllImportResolver(typeof(Microsoft.ML.OnnxRuntime.OrtEnv).Assembly, Resolve);
        NativeLibrary.SetDllImportResolver(typeof(Microsoft.ML.OnnxRuntimeGenAI.Model).Assembly, Resolve);
        Microsoft.ML.OnnxRuntime.OrtEnv.DisableDllImportResolver = true;
        LibraryDirectory = dir;
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        OrtImportName => ortHandle,
        GenAiImportName => genAiHandle,
        _ => IntPtr.Zero,   // anything else: the runtime's default probing
    };
}
