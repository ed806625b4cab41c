// `helm lint --strict` and `helm template` without a helm binary: helm-java (Helm 3 as a native library from
// Maven Central), run as a single-file Java program by tools/helm/helm.ts. Several commands, separated by `---`,
// run in one JVM (the native library loads once); each answers with a line `=== <status>` then its output.
//   java -cp '.tools/helm/libs/*' tools/helm/HelmTool.java version
//   java -cp … HelmTool.java lint <chart>
//   java -cp … HelmTool.java template <chart> <release> <namespace> [-f values.yaml]… [--set key=value]…
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class HelmTool {
  public static void main(String[] args) {
    List<String> command = new ArrayList<>();
    int worst = 0;
    for (String arg : args) {
      if (arg.equals("---")) {
        worst = Math.max(worst, run(command));
        command.clear();
      } else command.add(arg);
    }
    if (!command.isEmpty()) worst = Math.max(worst, run(command));
    System.exit(worst);
  }

  static int run(List<String> args) {
    StringBuilder out = new StringBuilder();
    int status = 0;
    try {
      switch (args.get(0)) {
        case "version" -> out.append(Helm.version().call()).append('\n');
        case "lint" -> {
          LintResult result = new Helm(Paths.get(args.get(1))).lint().strict().call();
          result.getMessages().forEach(m -> out.append(m).append('\n'));
          status = result.isFailed() ? 1 : 0;
        }
        case "template" -> {
          TemplateCommand template =
              new Helm(Paths.get(args.get(1))).template().withName(args.get(2)).withNamespace(args.get(3));
          for (int i = 4; i + 1 < args.size(); i += 2) {
            if (args.get(i).equals("-f")) template = template.withValuesFile(Paths.get(args.get(i + 1)));
            else if (args.get(i).equals("--set")) {
              String[] pair = args.get(i + 1).split("=", 2);
              template = template.set(pair[0], pair[1]);
            } else throw new IllegalArgumentException("unknown option " + args.get(i));
          }
          out.append(template.call());
        }
        default -> throw new IllegalArgumentException("unknown command " + args);
      }
    } catch (RuntimeException e) {
      out.append(e.getMessage()).append('\n');
      status = 1;
    }
    System.out.println("=== " + status);
    System.out.print(out);
    return status;
  }
}
