using OnnxLm.Hosting;

namespace OnnxLm.Tests.Packaging;

/// <summary><c>onnxlm service ... --dry-run</c> through <c>Program.Main</c>: the file on stdout, the actions on stderr,
/// nothing written or run; and the usage errors.</summary>
public class ServiceCommandTests
{
    static async Task<(int Code, string Out, string Error)> RunMain(params string[] args)
    {
        var context = TestContext.Current!;
        int outStart = context.GetStandardOutput().Length, errorStart = context.GetErrorOutput().Length;
        int code = await Program.Main(args);
        await Console.Out.FlushAsync();
        await Console.Error.FlushAsync();
        return (code, context.GetStandardOutput()[outStart..], context.GetErrorOutput()[errorStart..]);
    }

    static string TempConfig()
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, "{}");
        return path;
    }

    [Test]
    public async Task Dry_run_install_prints_the_systemd_unit_and_the_commands_without_running_them()
    {
        string config = TempConfig();
        try
        {
            var (code, output, error) = await RunMain("service", "install", "--dry-run", "--platform", "systemd",
                "--binary", "/usr/local/bin/onnxlm", "--config", config);
            await Assert.That(code).IsEqualTo(0);
            var spec = new ServiceSpec("/usr/local/bin/onnxlm", config, ServiceScope.User,
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
            // (The test context's capture of stdout may add a final newline.)
            await Assert.That(output.TrimEnd('\n')).IsEqualTo(ServiceFiles.RenderSystemdUnit(spec).TrimEnd('\n'));
            await Assert.That(error).Contains("would write ");
            await Assert.That(error).Contains("systemd/user/onnxlm.service");
            await Assert.That(error).Contains("would run systemctl --user daemon-reload");
            await Assert.That(error).Contains("would run systemctl --user enable --now onnxlm.service");
        }
        finally { File.Delete(config); }
    }

    [Test]
    public async Task Dry_run_system_install_prints_the_launchd_daemon_plist()
    {
        string config = TempConfig();
        try
        {
            var (code, output, error) = await RunMain("service", "install", "--system", "--dry-run", "--platform=launchd",
                "--binary", "/usr/local/bin/onnxlm", "--config", config, "--run-as", "_onnxlm");
            await Assert.That(code).IsEqualTo(0);
            await Assert.That(output).Contains("<string>/usr/local/bin/onnxlm</string>");
            await Assert.That(output).Contains("<key>UserName</key>");
            await Assert.That(error).Contains("would write /Library/LaunchDaemons/com.onnxlm.server.plist");
            await Assert.That(error).Contains("would run launchctl bootstrap system /Library/LaunchDaemons/com.onnxlm.server.plist");
        }
        finally { File.Delete(config); }
    }

    [Test]
    public async Task Dry_run_uninstall_names_the_file_and_the_commands()
    {
        var (code, _, error) = await RunMain("service", "uninstall", "--system", "--dry-run", "--platform", "systemd");
        await Assert.That(code).IsEqualTo(0);
        await Assert.That(error).Contains("would run systemctl disable --now onnxlm.service");
        await Assert.That(error).Contains("would delete /etc/systemd/system/onnxlm.service");
    }

    [Test]
    [Arguments("service frobnicate", "frobnicate")]
    [Arguments("service install --frobnicate", "--frobnicate")]
    [Arguments("service install --dry-run --platform windows", "windows")]
    [Arguments("service install --dry-run --run-as x", "--system")]
    [Arguments("service install --dry-run --config /nonexistent/onnxlm.json", "/nonexistent/onnxlm.json")]
    public async Task Bad_service_arguments_exit_2_naming_the_problem(string commandLine, string named)
    {
        var (code, _, error) = await RunMain(commandLine.Split(' '));
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).StartsWith("onnxlm: ");
        await Assert.That(error).Contains(named);
    }

    [Test]
    public async Task Rendering_for_the_other_os_without_dry_run_is_refused()
    {
        string other = OperatingSystem.IsMacOS() ? "systemd" : "launchd";
        var (code, _, error) = await RunMain("service", "install", "--platform", other);
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--dry-run");
    }
}
