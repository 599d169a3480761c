#!/usr/bin/env bash
# Prepares .maven-repository, the Maven local repository that `npx projen package:java` builds
# the Java binding with. The generated pom requests aws-cdk-lib as a version range, and Maven
# resolves a range from maven-metadata.xml. The Maven Central mirror that this project's CI
# reaches lists no aws-cdk-lib newer than 2.263.0 there, although it serves the 2.272.0 jar, and
# the library needs at least the peerDependencies floor. Installing that release into the local
# repository records it in local metadata, so the range resolves to it.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${MAVEN_AWS_CDK_LIB_VERSION:-2.272.0}"
repository="$PWD/.maven-repository"
artifact_dir="$repository/software/amazon/awscdk/aws-cdk-lib/$version"

peer_range=$(node -p "require('./package.json').peerDependencies['aws-cdk-lib']")
if ! node -e "process.exit(require('semver').satisfies(process.argv[1], process.argv[2]) ? 0 : 1)" "$version" "$peer_range"; then
  echo "prepare-maven-repository: aws-cdk-lib $version is outside the peer range $peer_range; set MAVEN_AWS_CDK_LIB_VERSION to a release in that range that Maven Central serves" >&2
  exit 1
fi

if grep -qs "<version>$version</version>" "$repository/software/amazon/awscdk/aws-cdk-lib/maven-metadata-local.xml"; then
  exit 0
fi

echo "prepare-maven-repository: installing aws-cdk-lib $version into $repository"
mvn --batch-mode --quiet -Dmaven.repo.local="$repository" dependency:get \
  -Dartifact="software.amazon.awscdk:aws-cdk-lib:$version"

# install:install-file refuses a file that already lies at its destination, so it installs a copy.
staging=$(mktemp -d /tmp/aws-cdk-lib-maven.XXXXXX)
trap 'rm -rf "$staging"' EXIT
cp "$artifact_dir/aws-cdk-lib-$version.jar" "$artifact_dir/aws-cdk-lib-$version.pom" "$staging/"
mvn --batch-mode --quiet -Dmaven.repo.local="$repository" install:install-file \
  -Dfile="$staging/aws-cdk-lib-$version.jar" -DpomFile="$staging/aws-cdk-lib-$version.pom"
