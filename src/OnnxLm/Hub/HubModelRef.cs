using System.Text.RegularExpressions;

namespace OnnxLm.Hub;

/// <summary>
/// <c>ORG/NAME[:SUBFOLDER][@REVISION]</c>: a model repository on the Hub, optionally one folder of it and a revision
/// (branch, tag or commit; default <c>main</c>). An existing local directory is never read as a reference.
/// </summary>
internal sealed partial record HubModelRef(string Repo, string? Subfolder, string Revision)
{
    [GeneratedRegex(@"^(?<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(:(?<sub>[^@:]+))?(@(?<rev>[^@:/][^@:]*))?$")]
    private static partial Regex Pattern();

    /// <summary>Whether <paramref name="model"/> names a repository rather than a folder: it is not an existing path and
    /// has the reference's shape (one slash, no leading '.', '/' or '~').</summary>
    public static bool TryParse(string model, out HubModelRef reference)
    {
        reference = null!;
        if (Directory.Exists(model) || model.StartsWith('.') || model.StartsWith('/') || model.StartsWith('~')) return false;
        var m = Pattern().Match(model);
        if (!m.Success || m.Groups["repo"].Value.Contains("..", StringComparison.Ordinal)) return false;
        string? sub = m.Groups["sub"].Success ? m.Groups["sub"].Value.Trim('/') : null;
        if (sub is not null && (sub.Length == 0 || sub.Split('/').Any(p => p is "" or "." or "..")))
            return false;
        reference = new HubModelRef(m.Groups["repo"].Value, sub, m.Groups["rev"].Success ? m.Groups["rev"].Value : "main");
        return true;
    }

    /// <summary>The cache folder name, as huggingface_hub spells it: <c>models--ORG--NAME</c>.</summary>
    public string CacheFolderName => "models--" + Repo.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>Whether the revision is a full commit hash (then no ref file is written or read).</summary>
    public bool RevisionIsCommit => IsCommitHash(Revision);

    public static bool IsCommitHash(string s) => s.Length == 40 && s.All(char.IsAsciiHexDigitLower);

    public override string ToString() => Repo + (Subfolder is null ? "" : ":" + Subfolder) + (Revision == "main" ? "" : "@" + Revision);
}
