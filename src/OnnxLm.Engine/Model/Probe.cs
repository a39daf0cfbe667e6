namespace OnnxLm.Engine.Model;
public static class Probe { public static string Version => Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString(); }
