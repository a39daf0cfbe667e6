using System.Diagnostics;
using System.Xml;
using OnnxLm.Hosting;

namespace OnnxLm.Tests.Packaging;

/// <summary>
/// The rendered launchd plist (parsed as XML, keys checked) and systemd unit (parsed into sections and keys, and given to
/// <c>systemd-analyze verify</c> when the machine has it).
/// </summary>
public class ServiceFilesTests
{
    const string Binary = "/opt/onnx lm/bin/onnxlm";   // a space, to pin the quoting
    const string Config = "/home/ada/.config/onnxlm/onnxlm.json";

    static ServiceSpec Spec(ServiceScope scope, string? config = Config, string? runAs = null, string binary = Binary) =>
        new(binary, config, scope, "/home/ada", runAs);

    /// <summary>The top-level dict of a plist as key → value element.</summary>
    static Dictionary<string, XmlElement> ParsePlist(string text)
    {
        var doc = new XmlDocument { XmlResolver = null };
        using (var reader = XmlReader.Create(new StringReader(text), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore }))
            doc.Load(reader);
        var root = doc.DocumentElement!;
        if (root.Name != "plist") throw new InvalidDataException("root is not <plist>");
        var dict = (XmlElement)root.SelectSingleNode("dict")!;
        var result = new Dictionary<string, XmlElement>();
        var children = dict.ChildNodes.OfType<XmlElement>().ToList();
        for (int i = 0; i < children.Count; i += 2)
        {
            if (children[i].Name != "key") throw new InvalidDataException($"expected <key>, got <{children[i].Name}>");
            result.Add(children[i].InnerText, children[i + 1]);
        }
        return result;
    }

    /// <summary>A unit file as section → key → values (keys may repeat), rejecting lines outside a section.</summary>
    static Dictionary<string, Dictionary<string, List<string>>> ParseUnit(string text)
    {
        var sections = new Dictionary<string, Dictionary<string, List<string>>>();
        Dictionary<string, List<string>>? current = null;
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[')
            {
                if (!line.EndsWith(']')) throw new InvalidDataException($"bad section header '{line}'");
                sections.Add(line[1..^1], current = []);
                continue;
            }
            int eq = line.IndexOf('=');
            if (current is null || eq <= 0) throw new InvalidDataException($"bad line '{line}'");
            string key = line[..eq];
            if (!current.TryGetValue(key, out var values)) current[key] = values = [];
            values.Add(line[(eq + 1)..]);
        }
        return sections;
    }

    [Test]
    public async Task User_launchd_plist_is_valid_xml_with_the_expected_keys()
    {
        var plist = ParsePlist(ServiceFiles.RenderLaunchdPlist(Spec(ServiceScope.User)));
        await Assert.That(plist["Label"].InnerText).IsEqualTo(ServiceFiles.LaunchdLabel);
        var args = plist["ProgramArguments"].ChildNodes.OfType<XmlElement>().Select(e => e.InnerText).ToArray();
        await Assert.That(args).IsEquivalentTo(new[] { Binary, "serve", "--config", Config });
        await Assert.That(plist["RunAtLoad"].Name).IsEqualTo("true");
        // KeepAlive restarts after failures only: SuccessfulExit=false.
        await Assert.That(plist["KeepAlive"].Name).IsEqualTo("dict");
        await Assert.That(plist["KeepAlive"].SelectSingleNode("key")!.InnerText).IsEqualTo("SuccessfulExit");
        await Assert.That(plist["KeepAlive"].SelectSingleNode("false")).IsNotNull();
        await Assert.That(plist["StandardOutPath"].InnerText).IsEqualTo("/home/ada/Library/Logs/onnxlm/onnxlm.log");
        await Assert.That(plist["StandardErrorPath"].InnerText).IsEqualTo("/home/ada/Library/Logs/onnxlm/onnxlm.err.log");
        await Assert.That(plist.ContainsKey("UserName")).IsFalse();
        await Assert.That(ServiceFiles.LaunchdPlistPath(ServiceScope.User, "/home/ada"))
            .IsEqualTo("/home/ada/Library/LaunchAgents/com.onnxlm.server.plist");
    }

    [Test]
    public async Task System_launchd_plist_goes_to_LaunchDaemons_and_escapes_xml()
    {
        var plist = ParsePlist(ServiceFiles.RenderLaunchdPlist(Spec(ServiceScope.System, config: "/etc/a&b <x>.json", runAs: "_onnxlm")));
        var args = plist["ProgramArguments"].ChildNodes.OfType<XmlElement>().Select(e => e.InnerText).ToArray();
        await Assert.That(args[3]).IsEqualTo("/etc/a&b <x>.json");
        await Assert.That(plist["UserName"].InnerText).IsEqualTo("_onnxlm");
        await Assert.That(plist["StandardOutPath"].InnerText).IsEqualTo("/Library/Logs/onnxlm/onnxlm.log");
        await Assert.That(ServiceFiles.LaunchdPlistPath(ServiceScope.System, "/home/ada"))
            .IsEqualTo("/Library/LaunchDaemons/com.onnxlm.server.plist");
    }

    [Test]
    public async Task Launchd_plist_without_config_runs_plain_serve()
    {
        var plist = ParsePlist(ServiceFiles.RenderLaunchdPlist(Spec(ServiceScope.User, config: null)));
        var args = plist["ProgramArguments"].ChildNodes.OfType<XmlElement>().Select(e => e.InnerText).ToArray();
        await Assert.That(args).IsEquivalentTo(new[] { Binary, "serve" });
    }

    [Test]
    public async Task User_systemd_unit_is_notify_typed_restarts_on_failure_and_is_hardened()
    {
        var unit = ParseUnit(ServiceFiles.RenderSystemdUnit(Spec(ServiceScope.User)));
        await Assert.That(unit.Keys).IsEquivalentTo(new[] { "Unit", "Service", "Install" });
        var service = unit["Service"];
        await Assert.That(service["Type"].Single()).IsEqualTo("notify");
        await Assert.That(service["ExecStart"].Single()).IsEqualTo($"\"{Binary}\" serve --config {Config}");
        await Assert.That(service["Restart"].Single()).IsEqualTo("on-failure");
        await Assert.That(service["NoNewPrivileges"].Single()).IsEqualTo("yes");
        await Assert.That(service["ProtectSystem"].Single()).IsEqualTo("strict");
        await Assert.That(service["ProtectHome"].Single()).IsEqualTo("read-only");
        await Assert.That(service["PrivateTmp"].Single()).IsEqualTo("yes");
        await Assert.That(service["ReadWritePaths"].Single()).IsEqualTo("-%C/onnxlm");
        await Assert.That(service["Environment"].Single()).IsEqualTo("XDG_CACHE_HOME=%C");
        await Assert.That(service.ContainsKey("DynamicUser")).IsFalse();
        await Assert.That(service.ContainsKey("PrivateDevices")).IsFalse();   // needs a system manager
        await Assert.That(unit["Install"]["WantedBy"].Single()).IsEqualTo("default.target");
        await Assert.That(ServiceFiles.SystemdUnitPath(ServiceScope.User, "/home/ada", null))
            .IsEqualTo("/home/ada/.config/systemd/user/onnxlm.service");
        await Assert.That(ServiceFiles.SystemdUnitPath(ServiceScope.User, "/home/ada", "/xdg"))
            .IsEqualTo("/xdg/systemd/user/onnxlm.service");
    }

    [Test]
    public async Task System_systemd_unit_uses_a_dynamic_user_or_the_given_one_and_kernel_hardening()
    {
        var unit = ParseUnit(ServiceFiles.RenderSystemdUnit(Spec(ServiceScope.System)));
        var service = unit["Service"];
        await Assert.That(service["DynamicUser"].Single()).IsEqualTo("yes");
        foreach (string key in new[] { "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID" })
            await Assert.That(service[key].Single()).IsEqualTo("yes");
        await Assert.That(service["CapabilityBoundingSet"].Single()).IsEqualTo("");
        await Assert.That(unit["Install"]["WantedBy"].Single()).IsEqualTo("multi-user.target");
        await Assert.That(ServiceFiles.SystemdUnitPath(ServiceScope.System, "/home/ada", null)).IsEqualTo("/etc/systemd/system/onnxlm.service");

        var named = ParseUnit(ServiceFiles.RenderSystemdUnit(Spec(ServiceScope.System, runAs: "onnxlm")))["Service"];
        await Assert.That(named["User"].Single()).IsEqualTo("onnxlm");
        await Assert.That(named.ContainsKey("DynamicUser")).IsFalse();
    }

    [Test]
    public async Task Systemd_exec_words_escape_specifiers_variables_and_quotes()
    {
        var unit = ParseUnit(ServiceFiles.RenderSystemdUnit(Spec(ServiceScope.User, config: "/cfg/100%$HOME \"x\".json", binary: "/bin/onnxlm")));
        await Assert.That(unit["Service"]["ExecStart"].Single()).IsEqualTo("/bin/onnxlm serve --config \"/cfg/100%%$$HOME \\\"x\\\".json\"");
    }

    [Test]
    [Arguments(ServiceScope.User)]
    [Arguments(ServiceScope.System)]
    public async Task Systemd_unit_passes_systemd_analyze_verify_or_parse_checks_when_the_tool_is_absent(ServiceScope scope)
    {
        // ExecStart must name an existing executable for verify: use the test host's copy of onnxlm.
        string binary = Path.Combine(AppContext.BaseDirectory, "onnxlm");
        string text = ServiceFiles.RenderSystemdUnit(Spec(scope, config: null, binary: binary));
        var unit = ParseUnit(text);
        await Assert.That(unit["Service"]["ExecStart"].Single()).IsEqualTo(binary + " serve");

        string? tool = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        if (tool is null)
        {
            Console.WriteLine("systemd-analyze not found: only the parse-level checks ran");
            return;
        }
        string dir = Path.Combine(Path.GetTempPath(), $"onnxlm-unit-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, ServiceFiles.SystemdUnitName);
            await File.WriteAllTextAsync(path, text);
            var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add("verify");
            info.ArgumentList.Add(path);
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            // Lines about our unit are errors in it; other units' complaints (a container's own setup) are not ours.
            string ours = string.Join('\n', (stderr + await stdout).Split('\n').Where(l => l.Contains(ServiceFiles.SystemdUnitName, StringComparison.Ordinal)));
            Console.WriteLine($"systemd-analyze verify exit {process.ExitCode}; output about our unit: '{ours}'");
            await Assert.That(ours).IsEmpty();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
