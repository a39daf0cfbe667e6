using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace OnnxLm.Hosting;

/// <summary>
/// Writes/removes the service file and drives launchctl or systemctl. Every external command goes through
/// <see cref="run"/>; in dry-run mode nothing is written or run: the file goes to <see cref="output"/> and the paths and
/// commands that would be used go to <see cref="notes"/> (stderr), so <c>--dry-run &gt; onnxlm.service</c> yields a clean file.
/// </summary>
internal sealed partial class ServiceInstaller(
    ServicePlatform platform, ServiceSpec spec, string filePath, bool dryRun, TextWriter output, TextWriter notes,
    Func<string, IReadOnlyList<string>, int>? run = null)
{
    readonly Func<string, IReadOnlyList<string>, int> run = run ?? RunProcess;
    bool User => spec.Scope == ServiceScope.User;

    public int Install()
    {
        string content = platform == ServicePlatform.Launchd ? ServiceFiles.RenderLaunchdPlist(spec) : ServiceFiles.RenderSystemdUnit(spec);
        if (dryRun)
        {
            notes.WriteLine($"# dry run: would write {filePath}");
            output.Write(content);
        }
        else
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(filePath)!);
                if (platform == ServicePlatform.Launchd)
                    Directory.CreateDirectory(ServiceFiles.LaunchdLogDirectory(spec.Scope, spec.HomeDirectory));   // launchd does not create it
                File.WriteAllText(filePath, content);
            }
            catch (UnauthorizedAccessException)
            {
                notes.WriteLine($"onnxlm: cannot write {filePath}: permission denied" + (User ? "" : " (system services need root: run with sudo)"));
                return 1;
            }
            notes.WriteLine($"wrote {filePath}");
        }
        if (platform == ServicePlatform.Launchd)
        {
            Run("launchctl", ["bootout", LaunchdTarget()], mayFail: true);   // replace a loaded older version
            if (Run("launchctl", ["bootstrap", LaunchdDomain(), filePath]) != 0) return 1;
        }
        else
        {
            if (Run("systemctl", [.. Scope(), "daemon-reload"]) != 0) return 1;
            if (Run("systemctl", [.. Scope(), "enable", "--now", ServiceFiles.SystemdUnitName]) != 0) return 1;
            if (User)
                notes.WriteLine("note: a user service starts at login; to start it at boot without a login run: loginctl enable-linger " + Environment.UserName);
        }
        return 0;
    }

    public int Uninstall()
    {
        if (platform == ServicePlatform.Launchd)
            Run("launchctl", ["bootout", LaunchdTarget()], mayFail: true);
        else
            Run("systemctl", [.. Scope(), "disable", "--now", ServiceFiles.SystemdUnitName], mayFail: true);
        if (dryRun) notes.WriteLine($"# dry run: would delete {filePath}");
        else if (File.Exists(filePath))
        {
            try
            {
                File.Delete(filePath);
            }
            catch (UnauthorizedAccessException)
            {
                notes.WriteLine($"onnxlm: cannot delete {filePath}: permission denied" + (User ? "" : " (run with sudo)"));
                return 1;
            }
            notes.WriteLine($"removed {filePath}");
        }
        else notes.WriteLine($"{filePath} was not installed");
        if (platform == ServicePlatform.Systemd) Run("systemctl", [.. Scope(), "daemon-reload"], mayFail: true);
        return 0;
    }

    /// <summary>The service manager's own status report; its exit code (systemctl: 3 when not running).</summary>
    public int Status()
    {
        notes.WriteLine(File.Exists(filePath) ? $"service file: {filePath}" : $"service file: {filePath} (not installed)");
        return platform == ServicePlatform.Launchd
            ? Run("launchctl", ["print", LaunchdTarget()], mayFail: true)
            : Run("systemctl", [.. Scope(), "status", "--no-pager", ServiceFiles.SystemdUnitName], mayFail: true);
    }

    string[] Scope() => User ? ["--user"] : [];

    // launchd domains are per uid; a dry run rendered on another OS shows the placeholder.
    static string LaunchdUserDomain() => OperatingSystem.IsMacOS() ? "gui/" + getuid().ToString(CultureInfo.InvariantCulture) : "gui/<uid>";

    string LaunchdDomain() => User ? LaunchdUserDomain() : "system";

    string LaunchdTarget() => LaunchdDomain() + "/" + ServiceFiles.LaunchdLabel;

    int Run(string command, string[] args, bool mayFail = false)
    {
        if (dryRun)
        {
            notes.WriteLine($"# dry run: would run {command} {string.Join(' ', args)}");
            return 0;
        }
        int code = run(command, args);
        if (code != 0 && !mayFail) notes.WriteLine($"onnxlm: '{command} {string.Join(' ', args)}' failed with exit code {code}");
        return code;
    }

    static int RunProcess(string command, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(command) { UseShellExecute = false };
        foreach (string a in args) info.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(info)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"onnxlm: cannot run {command}: {e.Message}");
            return 127;
        }
    }

    // Only called on macOS, where "libc" resolves to libSystem.
    [LibraryImport("libc")]
    private static partial uint getuid();
}
