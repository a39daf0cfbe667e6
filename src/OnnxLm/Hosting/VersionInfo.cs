using Microsoft.ML.OnnxRuntime;

namespace OnnxLm.Hosting;

/// <summary><c>onnxlm --version</c>: this program's version and those of the native runtimes it carries. ONNX Runtime
/// reports its own (the library actually loaded); GenAI's managed assembly says 0.0.0.0 and its native library exports no
/// version, so <see cref="GenAiVersion"/> is kept in step with Directory.Packages.props by a test.</summary>
internal static class VersionInfo
{
    public const string GenAiVersion = "0.18.0";

    public static string OrtVersion()
    {
        try
        {
            return OrtEnv.Instance().GetVersionString();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or OnnxRuntimeException)
        {
            return "(not loadable: " + e.Message + ")";
        }
    }

    public static string Render() =>
        $"onnxlm {Program.Version}\nONNX Runtime {OrtVersion()}\nONNX Runtime GenAI {GenAiVersion}";
}
