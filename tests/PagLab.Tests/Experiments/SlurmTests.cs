using System.Diagnostics;
using PagLab.Experiments;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

/// <summary>
/// Submits a tiny sweep as a job array to a real single-node Slurm (Debian's slurm-wlm and munge)
/// started here, in a temp folder, as ../shared/SLURM.md describes. Skips visibly when the daemons
/// are not installed or cannot start.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SlurmTests
{
    sealed class Cluster : IDisposable
    {
        public readonly string Work;
        readonly List<Process> daemons = new();
        public Dictionary<string, string> Env { get; } = new();

        public Cluster()
        {
            Work = Directory.CreateTempSubdirectory("paglab-slurm-").FullName;
            File.SetUnixFileMode(Work, (UnixFileMode)0b111_101_101);
            foreach (var d in new[] { "munge", "state", "log" }) Directory.CreateDirectory(Path.Combine(Work, d));
            string host = Run("hostname", "-s").Trim();
            Directory.CreateDirectory(Path.Combine(Work, "spool", host));
            foreach (var d in Directory.GetDirectories(Work, "*", SearchOption.AllDirectories)) File.SetUnixFileMode(d,
                (UnixFileMode)0b111_101_101);
            string munge = Path.Combine(Work, "munge");
            Run("mungekey", "-c", "-k", Path.Combine(munge, "munge.key"));
            Start("munged", "-F", $"--key-file={munge}/munge.key", $"--socket={munge}/munge.socket",
                $"--pid-file={munge}/munged.pid",
                  $"--seed-file={munge}/munged.seed", $"--log-file={munge}/munged.log");
            Thread.Sleep(300);
            long memory = (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1_048_576 * 0.5);
            File.WriteAllText(Path.Combine(Work, "slurm.conf"), $"""
                ClusterName=paglabtest
                SlurmctldHost={host}
                SlurmUser=root
                AuthType=auth/munge
                AuthInfo=socket={munge}/munge.socket
                StateSaveLocation={Work}/state
                SlurmdSpoolDir={Work}/spool/%n
                SlurmctldPidFile={Work}/slurmctld.pid
                SlurmdPidFile={Work}/slurmd.pid
                SlurmctldLogFile={Work}/log/slurmctld.log
                SlurmdLogFile={Work}/log/slurmd.log
                ProctrackType=proctrack/linuxproc
                TaskPlugin=task/none
                SelectType=select/cons_tres
                SelectTypeParameters=CR_Core
                SchedulerType=sched/backfill
                SchedulerParameters=bf_interval=1
                JobAcctGatherType=jobacct_gather/none
                AccountingStorageType=accounting_storage/none
                JobCompType=jobcomp/filetxt
                JobCompLoc={Work}/log/jobcomp.txt
                MpiDefault=none
                MailProg=/bin/true
                ReturnToService=2
                NodeName={host} CPUs={Environment.ProcessorCount} RealMemory={memory} State=UNKNOWN
                PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
                """);
            Env["SLURM_CONF"] = Path.Combine(Work, "slurm.conf");
            Start("slurmctld", "-D", "-c");
            Start("slurmd", "-D");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                if (daemons.Any(d =>
                    d.HasExited)) throw new InvalidOperationException($"a Slurm daemon exited: "
                    + $"{Tail("log/slurmctld.log")} {Tail("log/slurmd.log")}");
                if (Run("timeout", "3", "sinfo", "-h", "-N", "-o", "%t").Contains("idle")) return;
                Thread.Sleep(300);
            }
            throw new InvalidOperationException("the Slurm node never became idle");
        }

        string Tail(string file) { try { return string.Join(" | ", File.ReadAllLines(Path.Combine(Work,
            file)).TakeLast(3)); } catch (IOException) { return ""; } }

        void Start(string program, params string[] args)
        {
            var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true,
                RedirectStandardError = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            foreach (var (k, v) in Env) info.Environment[k] = v;
            var p = Process.Start(info)!;
            p.OutputDataReceived += (_, _) => { }; p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine(); p.BeginErrorReadLine();
            daemons.Add(p);
        }

        public string Run(string program, params string[] args)
        {
            var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true,
                RedirectStandardError = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            foreach (var (k, v) in Env) info.Environment[k] = v;
            using var p = Process.Start(info)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return output;
        }

        public void Dispose()
        {
            foreach (var d in Enumerable.Reverse(daemons)) { try { if (!d.HasExited) { d.Kill(); d.WaitForExit(5000); }
                } catch (InvalidOperationException) { } }
            try { Directory.Delete(Work,
                recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static bool Installed(string program) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Append("/usr/sbin").Append("/sbin").Any(d =>
            File.Exists(Path.Combine(d, program)));

    [Fact]
    public void SweepAsJobArray_OnARealSlurm_FinishesEveryJob()
    {
        foreach (var program in new[] { "slurmctld", "slurmd", "munged", "mungekey", "sbatch" })
            Assert.SkipUnless(Installed(program),
                $"Slurm test skipped: '{program}' is not installed (apt-get install slurm-wlm munge; "
                + $".ci/optional-packages does this in CI)");
        Cluster cluster;
        try { cluster = new Cluster(); }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            Assert.Skip($"Slurm test skipped: the daemons could not start here ({e.Message})");
            return;
        }
        using (cluster)
        {
            var spec = TinySweep.Spec(strengths: 2);
            string specPath = TinySweep.Write(spec), dir = TestPaths.TempDir("slurm-sweep");
            var written = CliProcess.Run("sweep", "slurm", specPath, "--out", dir, "--cpus-per-task", "1");
            Assert.True(written.ExitCode == 0, written.Stderr);
            string script = Path.Combine(dir, "sweep.sbatch");
            string submitted = cluster.Run("sbatch", script);
            Assert.Contains("Submitted batch job", submitted);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMinutes(5) && cluster.Run("squeue",
                "-h").Trim().Length > 0) Thread.Sleep(1000);
            Assert.True(cluster.Run("squeue", "-h").Trim().Length == 0, "the array did not finish in 5 minutes");
            foreach (var job in spec.Jobs())
                Assert.True(File.Exists(new SweepFolder(dir).Job(job).Result),
                    $"job {job.Id} has no result; Slurm log: "
                        + string.Join(" | ", Directory.GetFiles(Path.Combine(dir, "slurm")).Select(File.ReadAllText))
                            .Replace('\n', ' '));
        }
    }
}
