using System.Runtime.CompilerServices;

namespace OnnxLm.Tests.Generators;

/// <summary>
/// Baselines of generated source under Snapshots/ in the source tree. A mismatch fails with the first differing line;
/// run with ONNXLM_TEST_UPDATE_SNAPSHOTS=1 to rewrite the baselines, then review the diff before committing.
/// </summary>
internal static class SnapshotFile
{
    public const string UpdateVariable = "ONNXLM_TEST_UPDATE_SNAPSHOTS";

    /// <summary>Null when <paramref name="actual"/> matches the baseline (or the baseline was rewritten), else why not.</summary>
    public static string? Compare(string name, string actual, [CallerFilePath] string callerPath = "")
    {
        string path = Path.Combine(Path.GetDirectoryName(callerPath)!, "Snapshots", name);
        actual = Normalize(actual);
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, actual);
            return null;
        }
        if (!File.Exists(path)) return $"baseline {path} is missing; run the tests with {UpdateVariable}=1 to create it";
        string expected = Normalize(File.ReadAllText(path));
        if (expected == actual) return null;

        string[] e = expected.Split('\n'), a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<end>", al = i < a.Length ? a[i] : "<end>";
            if (el != al) return $"{name} differs at line {i + 1}:\n  expected: {el}\n  actual:   {al}\n(set {UpdateVariable}=1 to accept)";
        }
        return $"{name} differs";
    }

    static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimStart('\uFEFF');
}
