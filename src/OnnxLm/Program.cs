System.Console.WriteLine(OnnxLm.Engine.Model.Probe.Version);
