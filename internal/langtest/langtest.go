package langtest

// Program is one language's pair of test programs.
type Program struct {
	// Hello reads one line of stdin, prints "hello <line>" and exits 3.
	Hello string
	// Broken fails to compile; "" for an interpreted language.
	Broken string
}

// Programs are the test programs by language, as the API spells it.
var Programs = map[string]Program{
	"PYTHON": {`import sys; print("hello", sys.stdin.readline().strip()); sys.exit(3)`, ""},
	"JAVASCRIPT": {`const l = require("fs").readFileSync(0, "utf8").split("\n")[0];
console.log("hello " + l); process.exit(3);`, ""},
	"BASH": {`read l; echo "hello $l"; exit 3`, ""},
	"TYPESCRIPT": {`declare function require(m: string): any;
declare const process: { exit(code: number): never };
const l: string = require("fs").readFileSync(0, "utf8").split("\n")[0];
console.log("hello " + l); process.exit(3);`, `const n: number = "not a number";`},
	"GO": {`package main
import ("bufio"; "fmt"; "os")
func main() { s := bufio.NewScanner(os.Stdin); s.Scan(); fmt.Println("hello", s.Text()); os.Exit(3) }`,
		`package main
func main() { undefined() }`},
	"RUST": {`use std::io::BufRead;
fn main() { let mut l = String::new(); std::io::stdin().lock().read_line(&mut l).unwrap();
println!("hello {}", l.trim()); std::process::exit(3); }`, `fn main() { let x: i32 = "s"; }`},
	"JAVA": {`import java.util.Scanner;
public class Greeter { public static void main(String[] a) {
System.out.println("hello " + new Scanner(System.in).nextLine()); System.exit(3); } }`,
		`public class Main { public static void main(String[] a) { int x = "s"; } }`},
	"C": {`#include <stdio.h>
#include <string.h>
int main(void) { char l[64]; fgets(l, sizeof l, stdin); l[strcspn(l, "\n")] = 0; printf("hello %s\n", l); return 3; }`,
		`int main(void) { return undefined_fn(); }`},
	"CPP": {`#include <iostream>
#include <string>
int main() { std::string l; std::getline(std::cin, l); std::cout << "hello " << l << std::endl; return 3; }`,
		`int main() { std::string s; }`},
}
