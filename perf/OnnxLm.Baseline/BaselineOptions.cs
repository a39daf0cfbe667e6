using System.Globalization;
using System.Net;

namespace OnnxLm.Baseline;

/// <summary>Command line: <c>--model DIR --port N [--host 127.0.0.1] [--threads N]</c>.</summary>
public sealed record BaselineOptions(string ModelDir, IPAddress Host, int Port, int? Threads)
{
    public const string Usage = "usage: OnnxLm.Baseline --model DIR [--port 8001] [--host 127.0.0.1] [--threads N]";

    public static BaselineOptions Parse(string[] args)
    {
        string? model = null;
        var host = IPAddress.Loopback;
        int port = 8001;
        int? threads = null;
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value");
            int Int(int min, int max) =>
                int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
                    ? v : throw new ArgumentException($"{flag} must be an integer in [{min}, {max}]");
            switch (flag)
            {
                case "--model": model = Value(); break;
                case "--port": port = Int(0, 65535); break;
                case "--host":
                    string h = Value();
                    host = h == "localhost" ? IPAddress.Loopback
                        : IPAddress.TryParse(h, out var ip) ? ip : throw new ArgumentException($"--host must be an IP address (got '{h}')");
                    break;
                case "--threads": threads = Int(1, 1024); break;
                default: throw new ArgumentException($"unknown option '{flag}'");
            }
        }
        if (model is null) throw new ArgumentException("--model DIR is required");
        return new BaselineOptions(model, host, port, threads);
    }
}
